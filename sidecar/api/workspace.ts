/**
 * The workspace (FLUX_WORKSPACE): a directory shared with the lead broker's container, where jobs
 * run by default and whose files the API lists, serves, takes and deletes.
 *
 * Confinement: a path is parsed once into segments (no "..", ".", empty, absolute, control or
 * backslash parts), then walked from the workspace one segment at a time, each opened with
 * O_PATH|O_NOFOLLOW relative to the directory already opened (through /proc/self/fd/N, so no
 * segment is looked up twice). A symlink is followed only when the real path of what it opens,
 * read from /proc/self/fd/N, is inside the workspace's real path; else 403. Every later
 * operation goes through the descriptors of that walk, never through the text again.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { ApiError } from "./errors";

const { O_NOFOLLOW, O_DIRECTORY, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOCTTY } = fs.constants;
/** Linux O_PATH (not in fs.constants): a handle on the inode that neither reads nor opens devices. */
const O_PATH = 0o10000000;

export const MAX_SEGMENT_BYTES = 255;

export interface PathRules {
  /** what the path is, for messages: "file name", "path" */
  what: string;
  maxDepth: number;
  maxLength: number;
  /** "" names the root (listings) */
  allowEmpty?: boolean;
}

export const FILE_NAME_RULES: PathRules = { what: "file name", maxDepth: 8, maxLength: 1024 };
export const PATH_RULES: PathRules = { what: "path", maxDepth: 64, maxLength: 4096, allowEmpty: true };

// C0 controls, DEL and the C1 controls
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The reason `text` is not an acceptable relative path, or undefined. */
export function pathProblem(text: string, rules: PathRules): string | undefined {
  if (text === "") return rules.allowEmpty ? undefined : "is empty";
  if (Buffer.byteLength(text) > rules.maxLength) return `is longer than ${rules.maxLength} bytes`;
  if (CONTROL.test(text)) return "contains a NUL or control character";
  if (text.includes("\\")) return "contains a backslash";
  if (text.startsWith("/")) return "is absolute (it must be relative to the workspace)";
  const segments = text.split("/");
  if (segments.length > rules.maxDepth) return `has more than ${rules.maxDepth} parts`;
  for (const segment of segments) {
    if (segment === "") return "has an empty part (a leading, trailing or doubled /)";
    if (segment === "." || segment === "..") return `has a "${segment}" part`;
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `has a part longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/** The segments of a relative path, or a 400 naming the problem. */
export function parsePath(text: string, rules: PathRules = PATH_RULES): string[] {
  const problem = pathProblem(text, rules);
  if (problem) throw new ApiError(400, { detail: `invalid ${rules.what} ${JSON.stringify(text)}: it ${problem}` });
  return text === "" ? [] : text.split("/");
}

/** A permission mode: a number, or an octal string such as "0644"; undefined when it is neither. */
export function parseMode(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0o7777) return value;
  if (typeof value === "string" && /^0?[0-7]{1,4}$/.test(value.trim())) return parseInt(value.trim(), 8);
  return undefined;
}

export type EntryType = "file" | "directory" | "symlink" | "other";

export interface Entry {
  name: string;
  type: EntryType;
  size: number;
  /** seconds since the epoch */
  mtime: number;
  /** permission bits */
  mode: number;
}

export interface Listing {
  entries: Entry[];
  truncated: boolean;
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface WorkspaceOptions {
  maxListEntries: number;
  maxUploadBytes: number;
  /** Who should own what the API creates (the broker's user, when the sidecar runs as root). */
  owner(): Promise<Owner | undefined>;
}

const fdPath = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

function entryType(stat: fs.Stats): EntryType {
  if (stat.isFile()) return "file";
  if (stat.isDirectory()) return "directory";
  if (stat.isSymbolicLink()) return "symlink";
  return "other";
}

const noSuchPath = (shown: string) => new ApiError(404, { detail: `no such file or directory: ${shown}` });
const leaves = () => new ApiError(403, { detail: "path leaves the workspace" });

/** One opened inode of the walk: an O_PATH descriptor and what it is. */
interface Opened {
  fd: number;
  stat: fs.Stats;
}

export class Workspace {
  constructor(
    /** the configured path (as the broker's container sees it too) */
    readonly root: string,
    private readonly opts: WorkspaceOptions,
  ) {}

  /** The absolute path a job sees for `segments` (the configured root, not a resolved one). */
  jobPath(segments: string[]): string {
    return [this.root, ...segments].join("/");
  }

  /** `cwd` as segments inside the workspace, or undefined when it lies outside (or does not parse). */
  segmentsOf(cwd: string): string[] | undefined {
    if (cwd === this.root) return [];
    if (!cwd.startsWith(`${this.root}/`)) return undefined;
    const rest = cwd.slice(this.root.length + 1).replace(/\/+$/, "");
    return pathProblem(rest, PATH_RULES) === undefined ? (rest === "" ? [] : rest.split("/")) : undefined;
  }

  private async realRoot(): Promise<{ fd: number; real: string }> {
    let fd: number;
    try {
      fd = await openFd(this.root, O_PATH | O_DIRECTORY).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
        // made by the MiniCluster's container command; made here too when it is missing
        await fs.promises.mkdir(this.root, { recursive: true, mode: 0o755 });
        return openFd(this.root, O_PATH | O_DIRECTORY);
      });
    } catch (err) {
      throw new ApiError(503, { detail: `the workspace cannot be opened (${(err as NodeJS.ErrnoException).code ?? "error"})` });
    }
    return { fd, real: await fs.promises.realpath(fdPath(fd)) };
  }

  /**
   * Opens `name` inside the directory `dirFd`: itself when it is not a symlink; when it is, what
   * it points to, provided that lies inside the workspace (403 otherwise). Undefined when absent.
   */
  private async step(dirFd: number, name: string, real: string, follow = true): Promise<Opened | undefined> {
    let fd: number;
    try {
      fd = await openFd(fdPath(dirFd, name), O_PATH | O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let stat = await fstatFd(fd);
    if (stat.isSymbolicLink() && follow) {
      await closeFd(fd);
      try {
        fd = await openFd(fdPath(dirFd, name), O_PATH);
      } catch (err) {
        // a dangling or looping link: nothing to follow
        if (["ENOENT", "ELOOP"].includes((err as NodeJS.ErrnoException).code ?? "")) return undefined;
        throw err;
      }
      stat = await fstatFd(fd);
    }
    if (!(await inside(fd, real))) {
      await closeFd(fd);
      throw leaves();
    }
    return { fd, stat };
  }

  /**
   * Walks `segments` from the root; with `create`, missing directories are made (mode 0755,
   * owned by the broker's user). Returns the descriptor of the directory that holds the last
   * segment and the last segment opened (undefined when it does not exist). The caller closes both.
   */
  private async walk(segments: string[], shown: string, opts: { create?: boolean; followLast?: boolean } = {}): Promise<{ parent: number; last?: Opened }> {
    const { create = false, followLast = true } = opts;
    const { fd: rootFd, real } = await this.realRoot();
    let dir = rootFd;
    try {
      if (segments.length === 0) {
        const stat = await fstatFd(rootFd);
        const again = await openFd(fdPath(rootFd), O_PATH | O_DIRECTORY);
        return { parent: again, last: { fd: rootFd, stat } };
      }
      for (const segment of segments.slice(0, -1)) {
        let next = await this.step(dir, segment, real);
        if (!next && create) {
          await this.makeDirectory(dir, segment);
          next = await this.step(dir, segment, real);
        }
        if (!next) throw noSuchPath(shown);
        if (!next.stat.isDirectory()) {
          await closeFd(next.fd);
          throw create ? new ApiError(409, { detail: `not a directory: a part of ${shown} is a file` }) : noSuchPath(shown);
        }
        await closeFd(dir);
        dir = next.fd;
      }
      const last = await this.step(dir, segments[segments.length - 1], real, followLast);
      return { parent: dir, last };
    } catch (err) {
      await closeFd(dir);
      throw err;
    }
  }

  private async makeDirectory(dirFd: number, name: string): Promise<void> {
    try {
      await fs.promises.mkdir(fdPath(dirFd, name), { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return; // made meanwhile: step() checks it
      throw err;
    }
    const owner = await this.opts.owner();
    if (!owner) return;
    // Through a descriptor of the directory itself: a name swapped meanwhile for a link (hard or
    // symbolic) to another file fails to open here, and nothing else changes owner.
    const fd = await openFd(fdPath(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      await new Promise<void>((resolve, reject) => fs.fchown(fd, owner.uid, owner.gid, (err) => (err ? reject(err) : resolve())))
        .catch(ignoreFixedOwnership);
    } finally {
      await closeFd(fd);
    }
  }

  /** Makes (or reuses) the directory `segments` and returns the path a job sees for it. */
  async ensureDirectory(segments: string[], shown: string): Promise<string> {
    const { parent, last } = await this.walk(segments, shown, { create: true });
    try {
      if (!last) {
        await this.makeDirectory(parent, segments[segments.length - 1]);
      } else if (!last.stat.isDirectory()) {
        throw new ApiError(409, { detail: `not a directory: ${shown}` });
      }
    } finally {
      await closeFd(parent);
      if (last) await closeFd(last.fd);
    }
    return this.jobPath(segments);
  }

  /** Removes a directory this API made, if it is still empty (a submit that failed). */
  async removeEmptyDirectory(segments: string[]): Promise<void> {
    const { parent, last } = await this.walk(segments, segments.join("/"), { followLast: false });
    try {
      if (last?.stat.isDirectory()) await fs.promises.rmdir(fdPath(parent, segments[segments.length - 1])).catch(() => undefined);
    } finally {
      if (last) await closeFd(last.fd);
      await closeFd(parent);
    }
  }

  /** The directory's entries, sorted by name, at most maxListEntries of them. */
  async list(segments: string[], shown: string): Promise<Listing> {
    const { parent, last } = await this.walk(segments, shown);
    await closeFd(parent);
    if (!last) throw noSuchPath(shown);
    try {
      if (!last.stat.isDirectory()) throw new ApiError(400, { detail: `not a directory: ${shown}` });
      const dir = await fs.promises.opendir(fdPath(last.fd), { bufferSize: 64 });
      const entries: Entry[] = [];
      let truncated = false;
      try {
        for await (const dirent of dir) {
          if (entries.length >= this.opts.maxListEntries) {
            truncated = true;
            break;
          }
          let stat: fs.Stats;
          try {
            stat = await fs.promises.lstat(fdPath(last.fd, dirent.name));
          } catch {
            continue; // removed meanwhile
          }
          entries.push({ name: dirent.name, type: entryType(stat), size: stat.size, mtime: stat.mtimeMs / 1000, mode: stat.mode & 0o7777 });
        }
      } finally {
        await dir.close().catch(() => undefined);
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { entries, truncated };
    } finally {
      await closeFd(last.fd);
    }
  }

  /** A regular file opened for reading, with its size; 404 missing, 400 for anything else. */
  async openForReading(segments: string[], shown: string): Promise<{ handle: FileHandle; size: number }> {
    if (segments.length === 0) throw new ApiError(400, { detail: "not a file: the workspace itself" });
    const { parent, last } = await this.walk(segments, shown);
    await closeFd(parent);
    if (!last) throw noSuchPath(shown);
    try {
      if (last.stat.isDirectory()) throw new ApiError(400, { detail: `not a file: ${shown} is a directory` });
      if (!last.stat.isFile()) throw new ApiError(400, { detail: `not a regular file: ${shown}` });
      // Reopening the descriptor's own inode: no name is looked up again.
      const handle = await fs.promises.open(fdPath(last.fd), O_RDONLY | O_NOCTTY);
      return { handle, size: last.stat.size };
    } finally {
      await closeFd(last.fd);
    }
  }

  /**
   * Writes `body` to a temporary file beside the target, then renames it over the target: an
   * upload that fails or passes maxUploadBytes leaves nothing behind. 409 when the target is a directory.
   */
  async write(segments: string[], shown: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, mode: number): Promise<{ size: number }> {
    if (segments.length === 0) throw new ApiError(409, { detail: "the workspace itself is a directory" });
    const name = segments[segments.length - 1];
    const { parent, last } = await this.walk(segments, shown, { create: true });
    const limit = this.opts.maxUploadBytes;
    const temp = `.upload-${randomBytes(8).toString("hex")}.tmp`;
    let handle: FileHandle | undefined;
    let renamed = false;
    try {
      if (last) {
        await closeFd(last.fd);
        if (last.stat.isDirectory()) throw new ApiError(409, { detail: `is a directory: ${shown}` });
      }
      handle = await fs.promises.open(fdPath(parent, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0o600);
      let size = 0;
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > limit) {
          throw new ApiError(413, { detail: `upload too large (limit ${limit} bytes, FLUX_MAX_UPLOAD_BYTES)` }, { connection: "close" });
        }
        await handle.write(chunk);
      }
      await handle.chmod(mode);
      const owner = await this.opts.owner();
      if (owner) await handle.chown(owner.uid, owner.gid).catch(ignoreFixedOwnership);
      await handle.close();
      handle = undefined;
      try {
        await fs.promises.rename(fdPath(parent, temp), fdPath(parent, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") throw new ApiError(409, { detail: `is a directory: ${shown}` });
        throw err;
      }
      renamed = true;
      return { size };
    } finally {
      await handle?.close().catch(() => undefined);
      if (!renamed) await fs.promises.unlink(fdPath(parent, temp)).catch(() => undefined);
      await closeFd(parent);
    }
  }

  /** Deletes a file (or a symlink itself, never what it points to); 404 missing, 409 for a directory. */
  async remove(segments: string[], shown: string): Promise<void> {
    if (segments.length === 0) throw new ApiError(409, { detail: "the workspace itself is a directory" });
    const { parent, last } = await this.walk(segments, shown, { followLast: false });
    try {
      if (!last) throw noSuchPath(shown);
      if (last.stat.isDirectory()) throw new ApiError(409, { detail: `is a directory: ${shown}` });
      try {
        await fs.promises.unlink(fdPath(parent, segments[segments.length - 1]));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") throw noSuchPath(shown);
        if (code === "EISDIR") throw new ApiError(409, { detail: `is a directory: ${shown}` });
        throw err;
      }
    } finally {
      if (last) await closeFd(last.fd);
      await closeFd(parent);
    }
  }
}

/** A file-system error as the answer it deserves (ApiErrors pass through); others are rethrown. */
export function fsError(err: unknown, shown: string): unknown {
  if (err instanceof ApiError) return err;
  switch ((err as NodeJS.ErrnoException)?.code) {
    case "EACCES":
    case "EPERM":
      return new ApiError(403, { detail: `permission denied: ${shown}` });
    case "EROFS":
      return new ApiError(403, { detail: `the workspace is read-only: ${shown}` });
    case "ENOSPC":
    case "EDQUOT":
      return new ApiError(507, { detail: "no space left in the workspace" });
    case "ENOTDIR":
    case "ENOENT":
      return new ApiError(404, { detail: `no such file or directory: ${shown}` });
    case "ELOOP":
    case "ENAMETOOLONG":
      return new ApiError(400, { detail: `cannot resolve ${shown}` });
    default:
      return err;
  }
}

/**
 * Some file systems fix the owner of everything (an EFS access point gives its own uid/gid
 * whatever chown asks, and refuses the chown): the file is then theirs, which is what is wanted.
 */
function ignoreFixedOwnership(err: NodeJS.ErrnoException): void {
  if (err.code !== "EPERM" && err.code !== "EINVAL" && err.code !== "EOPNOTSUPP") throw err;
}

/** Is the real path of descriptor `fd` the workspace's real path or inside it? */
async function inside(fd: number, real: string): Promise<boolean> {
  const target = await fs.promises.readlink(fdPath(fd));
  return target === real || target.startsWith(real.endsWith("/") ? real : `${real}/`);
}

function openFd(path: string, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function fstatFd(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, stat) => (err ? reject(err) : resolve(stat))));
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

/** The owner of the broker's socket when this process runs as root (what it creates should be the broker user's), else undefined. */
export async function brokerOwner(socketPath: string): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const stat = await fs.promises.stat(socketPath);
  return { uid: stat.uid, gid: stat.gid };
}
