/** Runs the flux-restful CLI in-process or as a real subprocess, capturing its output. */
import { spawn } from "node:child_process";
import path from "node:path";
import { main } from "../../../client/cli";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ROOT = path.resolve(__dirname, "../../..");
const BIN = path.join(ROOT, "client/bin/flux-restful.cjs");

/** In-process: fast, for most tests. `env` replaces the environment (no FLUX_* leaks in). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  return { code, stdout, stderr };
}

/** As users run it: node + the bin shim (tsx), for exit codes and stray stack traces. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return spawnNode([BIN, ...args], env);
}

/** A TypeScript file of the repository run by node with tsx, e.g. an example. */
export function spawnTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return spawnNode(["--import", "tsx", path.join(ROOT, file), ...args], env);
}

function spawnNode(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
