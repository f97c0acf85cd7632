/**
 * A directory laid out as the kubelet lays out a mounted Secret or ConfigMap (its atomic writer,
 * pkg/volume/util/atomic_writer.go): the files live in a timestamped `..<ts>` directory, `..data`
 * links to it, and each visible name links to `..data/<name>`. An update writes a new timestamped
 * directory, points a `..data_tmp` link at it, renames that over `..data` (one atomic step) and
 * removes the old directory.
 */
import * as fs from "node:fs";
import * as path from "node:path";

let generation = 0;

function writeVersion(dir: string, files: Record<string, string>): string {
  const version = `..${new Date().toISOString().replace(/[-:.]/g, "_")}.${process.pid}${generation++}`;
  fs.mkdirSync(path.join(dir, version));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, version, name), text, { mode: 0o644 });
  return version;
}

/** Creates `dir` holding `files` in the kubelet's layout. */
export function writeProjectedVolume(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(writeVersion(dir, files), path.join(dir, "..data"));
  for (const name of Object.keys(files)) fs.symlinkSync(path.join("..data", name), path.join(dir, name));
}

/** Replaces the files' content as the kubelet does on an update (same names). */
export function updateProjectedVolume(dir: string, files: Record<string, string>): void {
  const old = fs.readlinkSync(path.join(dir, "..data"));
  const version = writeVersion(dir, files);
  fs.symlinkSync(version, path.join(dir, "..data_tmp"));
  fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
  fs.rmSync(path.join(dir, old), { recursive: true, force: true });
}
