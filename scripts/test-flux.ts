/**
 * npm run test:flux — every real-broker suite against the flux-core on PATH: the contract suite
 * (native client), the sidecar, client, reliability and web suites, each inside its own
 * `flux start --test-size=4` with FLUX_CONTRACT_REAL=1, so test/support/broker.ts hands every
 * test that real instance. It prints the flux-core version the broker reports, then one line per
 * suite and a table of the counts. Without `flux` on PATH it says so and exits 0.
 *
 *   PATH=/opt/flux-core-0.55.0/bin:$PATH npm run test:flux
 *   PATH=/opt/flux-core-0.55.0/bin:$PATH npm run test:flux -- contract web     # some suites only
 *   PATH=/opt/flux-core-0.55.0/bin:$PATH npm run test:flux -- files            # part of one (PARTIAL_SUITES)
 */
import { execFile, spawn } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { fluxExecutable } from "../test/support/broker";

export const SKIP_MESSAGE = "flux not on PATH: real-broker suites skipped (contract, sidecar, client, reliability, web, proxy)";

/** The real-broker suites, each run in a broker of its own (the web suite needs one to itself). */
export const REAL_BROKER_SUITES: Record<string, string[]> = {
  contract: ["test/contract/**/*.spec.ts"],
  sidecar: ["test/sidecar/*.spec.ts"],
  client: ["test/client/e2e.spec.ts", "test/client/workspace.spec.ts", "test/client/files-cli.spec.ts"],
  reliability: ["test/reliability/**/*.spec.ts"],
  web: ["test/web/*.spec.ts"],
  proxy: ["test/proxy/*.spec.ts"],
};

/** Parts of a suite that can be run alone by name (`npm run test:flux -- files`); the full run has them already. */
export const PARTIAL_SUITES: Record<string, string[]> = {
  files: ["test/sidecar/files.spec.ts"],
};

const suiteSpecs = (suite: string): string[] => REAL_BROKER_SUITES[suite] ?? PARTIAL_SUITES[suite];

/** argv (after `flux`) of one real-broker run (shared with test/contract/real-broker.spec.ts). */
export function realBrokerCommand(root: string, specs: string | string[] = REAL_BROKER_SUITES.contract): string[] {
  return [
    "start",
    "--test-size=4",
    process.execPath,
    path.join(root, "node_modules", "mocha", "bin", "mocha.js"),
    "--no-config",
    "--node-option=import=tsx",
    "--reporter",
    path.join(root, "test", "support", "summary-reporter.cjs"),
    "--timeout",
    "60000",
    "--exit",
    ...(Array.isArray(specs) ? specs : [specs]),
  ];
}

export interface SuiteResult {
  suite: string;
  passed: number;
  failed: number;
  skipped: number;
  exitCode: number | null;
  seconds: number;
  /** the run's output (stdout and stderr), for failure messages */
  output: string;
}

/** Runs one suite in its own `flux start`; the output goes to `echo` as it comes. */
export async function runRealBrokerSuite(flux: string, root: string, suite: string, echo?: (text: string) => void): Promise<SuiteResult> {
  const started = Date.now();
  const child = spawn(flux, realBrokerCommand(root, suiteSpecs(suite)), {
    cwd: root,
    env: { ...process.env, FLUX_CONTRACT_REAL: "1" },
  });
  let output = "";
  const take = (d: Buffer) => {
    output += d.toString();
    echo?.(d.toString());
  };
  child.stdout.on("data", take);
  child.stderr.on("data", take);
  const exitCode = await new Promise<number | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  const summary = /(\d+) passed, (\d+) failed, (\d+) skipped/.exec(output);
  return {
    suite,
    passed: summary ? Number(summary[1]) : 0,
    failed: summary ? Number(summary[2]) : 1, // no summary line: the run itself failed
    skipped: summary ? Number(summary[3]) : 0,
    exitCode,
    seconds: Math.round((Date.now() - started) / 1000),
    output,
  };
}

/** The version a real broker of this flux reports (attr "version"), from a one-broker instance. */
export async function realBrokerVersion(flux: string): Promise<string> {
  const { stdout } = await promisify(execFile)(flux, ["start", "--test-size=1", "flux", "getattr", "version"], { timeout: 60_000 });
  return stdout.trim();
}

async function main(): Promise<void> {
  const flux = fluxExecutable();
  if (!flux) {
    process.stdout.write(`${SKIP_MESSAGE}\n`);
    return;
  }
  const root = path.resolve(__dirname, "..");
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((s) => !suiteSpecs(s));
  if (unknown.length) {
    process.stderr.write(`unknown suite(s): ${unknown.join(", ")}; known: ${[...Object.keys(REAL_BROKER_SUITES), ...Object.keys(PARTIAL_SUITES)].join(", ")}\n`);
    process.exit(2);
  }
  const suites = wanted.length ? wanted : Object.keys(REAL_BROKER_SUITES);
  const version = await realBrokerVersion(flux);
  const banner = `flux-core ${version} (${flux})`;
  process.stdout.write(`real-broker suites against ${banner}: ${suites.join(", ")}\n`);
  const results: SuiteResult[] = [];
  for (const suite of suites) {
    process.stdout.write(`\n=== ${suite} (${suiteSpecs(suite).join(" ")}) against flux-core ${version}\n`);
    results.push(await runRealBrokerSuite(flux, root, suite, (text) => process.stdout.write(text)));
  }
  process.stdout.write(`\nflux-core ${version}: results per suite (flux start --test-size=4 each)\n`);
  process.stdout.write(`${"suite".padEnd(12)} ${"passed".padStart(6)} ${"failed".padStart(6)} ${"skipped".padStart(7)} ${"time".padStart(6)}\n`);
  for (const r of results) {
    process.stdout.write(`${r.suite.padEnd(12)} ${String(r.passed).padStart(6)} ${String(r.failed).padStart(6)} ${String(r.skipped).padStart(7)} ${`${r.seconds}s`.padStart(6)}\n`);
  }
  const total = results.reduce((t, r) => ({ passed: t.passed + r.passed, failed: t.failed + r.failed, skipped: t.skipped + r.skipped }), { passed: 0, failed: 0, skipped: 0 });
  process.stdout.write(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped (flux-core ${version})\n`);
  process.exit(results.every((r) => r.failed === 0 && r.exitCode === 0) ? 0 : 1);
}

if (require.main === module) main().catch((err: unknown) => {
  process.stderr.write(`test:flux: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
