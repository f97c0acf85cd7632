/**
 * Runs the test broker until killed, for demos and for working without Flux:
 *
 *   npx tsx test/test-broker/main.ts --size 4
 *   FLUX_URI=local:///tmp/flux-test-XXXX/local-0      <- printed on stdout
 */
import { Command, InvalidArgumentError } from "commander";
import { BIG_ID_START_MS, TestBroker } from "./index";

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a non-negative integer");
  return n;
}

async function main(): Promise<void> {
  const program = new Command()
    .name("test-broker")
    .description("Serve the Flux wire protocol on a unix socket with an in-memory instance (jobs run as local processes)")
    .option("--size <n>", "number of fake nodes", positiveInt, 4)
    .option("--cores <n>", "cores per node", positiveInt, 4)
    .option("--gpus <n>", "GPUs per node", positiveInt, 0)
    .option("--hostlist <hostlist>", "node hostnames (RFC 29), default flux-sample-[0-<size-1>]")
    .option("--version-emulated <version>", "flux-core version to emulate (0.88.0 or 0.55.0)", "0.88.0")
    .option("--big-ids", "start the job-id clock past 2^29 ms so ids exceed 2^53")
    .option("--socket-dir <dir>", "directory for the socket (default: a new temporary directory)")
    .parse();
  const o = program.opts<{ size: number; cores: number; gpus: number; hostlist?: string; versionEmulated: string; bigIds?: boolean; socketDir?: string }>();
  const broker = await TestBroker.start({
    size: o.size,
    coresPerNode: o.cores,
    gpusPerNode: o.gpus,
    hostlist: o.hostlist,
    version: o.versionEmulated,
    fluidStartMs: o.bigIds ? BIG_ID_START_MS : 0,
    socketDir: o.socketDir,
  });
  process.stdout.write(`FLUX_URI=${broker.uri}\n`);
  const shutdown = () => void broker.stop().then(() => process.exit(0));
  process.on("SIGINT", shutdown).on("SIGTERM", shutdown);
}

main().catch((err) => {
  process.stderr.write(`test-broker: ${(err as Error).message}\n`);
  process.exit(1);
});
