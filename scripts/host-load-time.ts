/**
 * `npm run -s host-load-time -- [--stack gke|eks|local] [--mode project|typecheck|transpile] [--runs N] [--manifest FILE]`:
 * how long Pulumi's Node.js host takes from process start to the program's first resource. It runs
 * the SDK's own runner (node_modules/@pulumi/pulumi/cmd/run, what `pulumi preview`/`up` start) on
 * the project directory as the language host does (PULUMI_NODEJS_TYPESCRIPT=true for
 * `runtime.options.typescript`, config in PULUMI_CONFIG), with mocks in place of the engine
 * (scripts/host-load-mocks.cjs). Modes: `project` leaves ts-node to the project's settings (what
 * `pulumi up` does), `typecheck` and `transpile` force PULUMI_NODEJS_TRANSPILE_ONLY either way.
 * Without --manifest the operator manifest is downloaded as in a real run.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { PROJECT } from "../infra/config";
import { readStackFile } from "./plan";

const ROOT = path.join(__dirname, "..");
export const RUNNER = path.join(ROOT, "node_modules", "@pulumi", "pulumi", "cmd", "run");
const PRELOAD = path.join(__dirname, "host-load-mocks.cjs");

export type Mode = "project" | "typecheck" | "transpile";

export interface FirstResource {
  ms: number;
  type: string;
  name: string;
}

export function hostEnvironment(stack: string, mode: Mode, manifest?: string, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { values, secretKeys } = readStackFile(stack);
  const config = { "gcp:project": "my-gcp-project", ...values, ...overrides };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_NODEJS_TYPESCRIPT: "true",
    PULUMI_CONFIG: JSON.stringify(config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(secretKeys),
  };
  delete env.PULUMI_NODEJS_TRANSPILE_ONLY;
  delete env.NODE_OPTIONS;
  if (mode !== "project") env.PULUMI_NODEJS_TRANSPILE_ONLY = String(mode === "transpile");
  if (manifest) env.HOST_LOAD_MANIFEST = path.resolve(manifest);
  return env;
}

/** One run of the host's runner; throws with its output when it ends without a resource. */
export function measureOnce(stack: string, mode: Mode, manifest?: string, timeoutMs = 300_000, overrides: Record<string, string> = {}): FirstResource {
  const result = spawnSync(process.execPath, [
    "--require", PRELOAD, RUNNER, `--monitor=mock`, `--project=${PROJECT}`, `--stack=${stack}`, "--dry-run", ".",
  ], { cwd: ROOT, env: hostEnvironment(stack, mode, manifest, overrides), encoding: "utf8", timeout: timeoutMs });
  const line = result.stdout.split("\n").find((l) => l.startsWith("FIRST_RESOURCE "));
  if (!line) {
    throw new Error(`the program declared no resource (exit ${result.status}${result.signal ? `, ${result.signal}` : ""}):\n${result.stdout}${result.stderr}`);
  }
  return JSON.parse(line.slice("FIRST_RESOURCE ".length)) as FirstResource;
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function main(argv: string[]): void {
  const stack = option(argv, "--stack") ?? "gke";
  const mode = (option(argv, "--mode") ?? "project") as Mode;
  if (!["project", "typecheck", "transpile"].includes(mode)) throw new Error("--mode is project, typecheck or transpile");
  const runs = Number(option(argv, "--runs") ?? "3");
  const manifest = option(argv, "--manifest");
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const first = measureOnce(stack, mode, manifest);
    times.push(first.ms);
    process.stdout.write(`run ${i + 1}: ${(first.ms / 1000).toFixed(2)} s to the first resource (${first.type} ${first.name})\n`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  process.stdout.write(`${stack}, mode ${mode}: median ${(sorted[Math.floor(sorted.length / 2)] / 1000).toFixed(2)} s over ${runs} runs\n`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
