/**
 * Saved connections ("profiles") in the user's config directory (XDG): one JSON file holding
 * credentials, so it is written readable by the user alone (0600, in a 0700 directory), by
 * rename so a crash never leaves half a file.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { FluxRestfulError } from "../errors";

export interface Profile {
  host: string;
  user?: string;
  token?: string;
  secretKey?: string;
  /** PEM CA that vouches for `host` (a stack that generated its own certificate). */
  ca?: string;
}

export interface ProfileFile {
  /** The profile used when none is named (--profile, FLUX_RESTFUL_PROFILE). */
  default?: string;
  profiles: Record<string, Profile>;
}

export function profilesPath(env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), ".config");
  return path.join(config, "flux-restful", "profiles.json");
}

export function readProfiles(env: NodeJS.ProcessEnv): ProfileFile {
  const file = profilesPath(env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { profiles: {} };
    throw new FluxRestfulError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as ProfileFile;
    return { default: parsed.default, profiles: parsed.profiles ?? {} };
  } catch {
    throw new FluxRestfulError(`${file} is not valid JSON: fix or remove it`);
  }
}

export function writeProfiles(env: NodeJS.ProcessEnv, profiles: ProfileFile): string {
  const file = profilesPath(env);
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(profiles, null, 2) + "\n", { mode: 0o600 });
  chmodSync(temp, 0o600); // the mode above is masked by the umask
  renameSync(temp, file);
  return file;
}

/** A profile by name; the error lists the saved ones. */
export function getProfile(profiles: ProfileFile, name: string): Profile {
  const profile = profiles.profiles[name];
  if (profile) return profile;
  const saved = Object.keys(profiles.profiles);
  throw new FluxRestfulError(
    `no profile named "${name}" (${saved.length ? `saved: ${saved.join(", ")}` : "none saved yet: create one with `flux-restful login`"})`,
  );
}
