/**
 * The CLI's side of files: local files sent with a job (--file), glob patterns over a job's
 * directory (--get), the local names downloads are written to, and workspace listings.
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { InvalidArgumentError } from "commander";
import type { FileEntry, FileListing, JobFile } from "../types";
import { table } from "./format";

/**
 * `--file [NAME=]PATH` as `flux submit --add-file` reads it: the text before the first "=" is the
 * name, else the name is the file's basename. The local permission bits go along (an executable
 * stays executable).
 */
export function readJobFile(spec: string): [name: string, file: JobFile] {
  const at = spec.indexOf("=");
  const name = at < 0 ? path.basename(spec) : spec.slice(0, at);
  const local = at < 0 ? spec : spec.slice(at + 1);
  if (!name || !local) throw new InvalidArgumentError(`--file "${spec}": expected NAME=PATH or PATH`);
  let info;
  try {
    info = statSync(local);
  } catch (err) {
    throw new InvalidArgumentError(`--file "${spec}": cannot read ${local} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!info.isFile()) throw new InvalidArgumentError(`--file "${spec}": ${local} is not a regular file`);
  return [name, { data: readFileSync(local), mode: info.mode & 0o777 }];
}

/** The files given with --file, by name; a name given twice is an error. */
export function readJobFiles(specs: string[] | undefined): Record<string, JobFile> | undefined {
  if (!specs?.length) return undefined;
  const files: Record<string, JobFile> = {};
  for (const spec of specs) {
    const [name, file] = readJobFile(spec);
    if (Object.hasOwn(files, name)) throw new InvalidArgumentError(`--file: two files named "${name}"`);
    Object.defineProperty(files, name, { value: file, enumerable: true });
  }
  return files;
}

/** A batch script: its text, which must start with "#!" as `flux batch` demands. */
export function readBatchScript(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the script ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InvalidArgumentError(`${file} is not a text file (not UTF-8): a batch script must be one`);
  }
  if (!text.startsWith("#!")) {
    throw new InvalidArgumentError(`${file} does not start with "#!": a batch script names its interpreter on its first line, e.g. #!/bin/sh`);
  }
  return text;
}

/**
 * A name the server listed, usable as one local path component: not empty, "." or "..", and
 * without "/", "\" or control characters. Anything else is refused, never cleaned up, so a
 * hostile listing cannot choose where a download lands.
 */
export function isPlainName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && name.length <= 255 && !/[/\\\u0000-\u001f\u007f]/.test(name);
}

/** `target` is `dir` itself or lies beneath it (both resolved). */
export function isInside(dir: string, target: string): boolean {
  const relative = path.relative(path.resolve(dir), path.resolve(target));
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/**
 * A shell glob for one path component as a regular expression: `*` and `?` never match "/" nor a
 * leading "." (as in sh), `[abc]` and `[!abc]` are classes, everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) {
        source += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      source += `[${negate ? "^/" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  const hidden = glob.startsWith(".") ? "" : "(?!\\.)";
  return new RegExp(`^${hidden}${source}$`, "u");
}

export interface GetPattern {
  /** A literal subdirectory of the job's directory ("" for the directory itself). */
  dir: string;
  match: RegExp;
  text: string;
}

/** `--get PATTERN`: a glob over the names of the job's directory, or of a literal subdirectory (out/*.dat). */
export function parseGetPattern(text: string): GetPattern {
  const slash = text.lastIndexOf("/");
  const dir = slash < 0 ? "" : text.slice(0, slash);
  const base = text.slice(slash + 1);
  const segments = dir ? dir.split("/") : [];
  if (!base || text.startsWith("/") || segments.some((s) => !isPlainName(s) || /[*?[]/.test(s))) {
    throw new InvalidArgumentError(`--get "${text}": expected a glob such as "*.out" or "results/*.dat" (a relative, literal directory)`);
  }
  return { dir, match: globToRegExp(base), text };
}

const TYPE_LETTER: Record<FileEntry["type"], string> = { file: "-", directory: "d", symlink: "l", other: "?" };

/** Permission bits as ls shows them, e.g. drwxr-xr-x. */
export function modeString(entry: Pick<FileEntry, "type" | "mode">): string {
  const bits = "rwxrwxrwx";
  let text = TYPE_LETTER[entry.type] ?? "?";
  for (let i = 0; i < 9; i++) text += entry.mode & (1 << (8 - i)) ? bits[i] : "-";
  return text;
}

/** A listing as a table, like ls -l: directories with a trailing "/". */
export function listingTable(listing: FileListing): string {
  const rows = listing.entries.map((e) => [
    modeString(e),
    String(e.size),
    new Date(e.mtime * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
    e.type === "directory" ? `${e.name}/` : e.name,
  ]);
  return table(["MODE", "SIZE", "MODIFIED", "NAME"], rows);
}
