/**
 * `npm run bench:client`: start-up of the `flux-restful` CLI, the median wall time of
 * `node client/bin/flux-restful.cjs --help` over BENCH_RUNS runs (default 20), beside bare
 * `node -e 0` (what no CLI can go below). BENCH_CLIENT_BIN names another bin to time in the same
 * interleaved runs (say, one of the previous commit's checkout, for a before/after). Build first
 * (npm run build): this times the package as installed, dist/ and its dependencies.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const BIN = path.join(__dirname, "../../client/bin/flux-restful.cjs");

const subjects: Array<[string, string[]]> = [
  ["node -e 0", ["-e", "0"]],
  ["flux-restful --help", [BIN, "--help"]],
];
if (process.env.BENCH_CLIENT_BIN) subjects.push([`${process.env.BENCH_CLIENT_BIN} --help`, [process.env.BENCH_CLIENT_BIN, "--help"]]);

const times = new Map<string, number[]>(subjects.map(([name]) => [name, []]));
// interleaved, so a busy moment of the machine weighs on every subject alike
for (let run = 0; run < RUNS; run++) {
  for (const [name, args] of subjects) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
    if (result.status !== 0) throw new Error(`${name} exited ${result.status}`);
    times.get(name)!.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (const [name, values] of times) console.log(`${name.padEnd(60)} median ${median(values).toFixed(0).padStart(5)} ms  (${RUNS} runs)`);
