/** Runs the flux-restful CLI in-process or as a real subprocess, capturing its output. */
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { main } from "flux-restful-client/cli";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ROOT = path.resolve(__dirname, "../../..");
const BIN = path.join(ROOT, "client/bin/flux-restful.cjs");
/** No saved profiles unless a test sets XDG_CONFIG_HOME: never the profiles of whoever runs the tests. */
const NO_PROFILES = { XDG_CONFIG_HOME: path.join(tmpdir(), "flux-restful-tests-have-no-config") };

/** In-process (the built package): fast, for most tests. `env` replaces the environment (no FLUX_* leaks in). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...NO_PROFILES, ...env },
  });
  return { code, stdout, stderr };
}

/** As users run it: node + the package's bin, for exit codes, signals and stray stack traces. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return spawnNode([BIN, ...args], env);
}

/** A TypeScript file of the repository run by node with tsx, e.g. an example. */
export function spawnTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return spawnNode(["--import", "tsx", path.join(ROOT, file), ...args], env);
}

/** A command line run by sh in the repository, as a user would paste it. */
export function spawnShell(commandLine: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return spawnProcess("sh", ["-c", commandLine], env);
}

function spawnNode(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return spawnProcess(process.execPath, args, env);
}

function spawnProcess(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: ROOT, env: { PATH: process.env.PATH, ...NO_PROFILES, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
