/**
 * Changes that reach a running sidecar without a new pod. The kubelet updates a mounted Secret or
 * ConfigMap by writing a new timestamped directory and swapping the `..data` link to it in one
 * rename, so the link's target names the version of the whole volume: one readlink per poll tells
 * whether anything changed, and the files read after it are all of the same version.
 */
import { lstatSync, readlinkSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Logger } from "./log";

export { RELOAD_EXIT_CODE } from "./mounts";

/** The link the kubelet swaps on every update of a projected volume. */
const DATA_LINK = "..data";

/**
 * The version of the files in `dir`: the `..data` link's target where the kubelet manages the
 * directory, otherwise each file's inode, size and modification time (plain files edited in place).
 */
export function volumeVersion(dir: string, files: readonly string[]): string {
  try {
    if (lstatSync(join(dir, DATA_LINK)).isSymbolicLink()) return `link:${readlinkSync(join(dir, DATA_LINK))}`;
  } catch {
    // not a kubelet volume
  }
  return files.map((file) => {
    try {
      const s = statSync(join(dir, file));
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return "-";
    }
  }).join(",");
}

/**
 * Polls a directory's version every `intervalMs` (one check at a time, never more often) and calls
 * `onChange` once per new version. When `onChange` fails (an invalid update, or files read while the
 * kubelet was swapping them), the version is tried again at the next poll, and the failure is logged
 * once per version. The timer does not keep the process alive.
 */
export class VolumeWatcher {
  private version: string;
  private failedVersion?: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly files: readonly string[],
    private readonly intervalMs: number,
    private readonly onChange: () => void | Promise<void>,
    private readonly log: Logger,
    /** The version the caller started from (read before it read the files), when not now. */
    initialVersion?: string,
  ) {
    this.version = initialVersion ?? volumeVersion(dir, files);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const version = volumeVersion(this.dir, this.files);
    if (version !== this.version) {
      try {
        await this.onChange();
        this.version = version;
      } catch (err) {
        if (version !== this.failedVersion) {
          this.failedVersion = version;
          this.log.error({ dir: this.dir, err: (err as Error).message }, "could not apply the changed files (tried again at each check)");
        }
      }
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/**
 * Where to read the current files of `dir`: the directory `..data` points to, when the kubelet
 * manages it, so that every file read is of the same version (through the visible names, a swap
 * between two reads would mix versions); `dir` itself otherwise.
 */
export function currentFilesDir(dir: string): string {
  try {
    if (lstatSync(join(dir, DATA_LINK)).isSymbolicLink()) return join(dir, readlinkSync(join(dir, DATA_LINK)));
  } catch {
    // not a kubelet volume
  }
  return dir;
}

/** The version of the bundle's directory, to read when the process starts (see watchBundle). */
export function bundleVersion(bundleFile: string): string {
  return volumeVersion(dirname(bundleFile), [basename(bundleFile)]);
}

/**
 * Watches the sidecar's own bundle: `onNewBundle` runs once its directory holds another version
 * than `startVersion`, read when this process started (it runs the bundle of that version).
 */
export function watchBundle(bundleFile: string, startVersion: string, intervalMs: number, onNewBundle: () => void, log: Logger): VolumeWatcher {
  return new VolumeWatcher(dirname(bundleFile), [basename(bundleFile)], intervalMs, onNewBundle, log, startVersion);
}
