/**
 * `npm run demo`: the whole product on this machine, with no Flux and no cloud account.
 * A test broker (4 fake nodes whose jobs run as local processes) and the sidecar in front of it,
 * with auth on and fresh credentials, until Ctrl-C. Prints what to paste into a second terminal.
 *
 *   npm run demo                 # http://127.0.0.1:5000
 *   npm run demo -- --port 8080 --no-auth
 */
import { randomBytes } from "node:crypto";
import { Command, InvalidArgumentError } from "commander";
import { loadConfig } from "../sidecar/config";
import { startSidecar } from "../sidecar/server";
import { TestBroker } from "../test/test-broker";

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a port number");
  return n;
}

async function main(): Promise<void> {
  const opts = new Command()
    .name("demo")
    .description("Run the sidecar on a local test broker (no Flux, no cloud)")
    .option("--port <port>", "HTTP port", port, 5000)
    .option("--size <n>", "number of fake nodes", port, 4)
    .option("--no-auth", "serve without authentication")
    .parse()
    .opts<{ port: number; size: number; auth: boolean }>();

  const broker = await TestBroker.start({ size: opts.size });
  const credentials = {
    FLUX_USER: "fluxuser",
    FLUX_TOKEN: randomBytes(12).toString("base64url"),
    FLUX_SECRET_KEY: randomBytes(24).toString("base64url"),
  };
  const config = loadConfig({
    ...credentials,
    FLUX_URI: broker.uri,
    FLUX_REQUIRE_AUTH: String(opts.auth),
    FLUX_NUMBER_NODES: String(opts.size),
    HOST: "127.0.0.1",
    PORT: String(opts.port),
    FLUX_LOG_LEVEL: "warn",
  });
  const sidecar = await startSidecar(config);

  const env = opts.auth
    ? `FLUX_RESTFUL_HOST=${sidecar.url} FLUX_USER=${credentials.FLUX_USER} FLUX_TOKEN=${credentials.FLUX_TOKEN} FLUX_SECRET_KEY=${credentials.FLUX_SECRET_KEY}`
    : `FLUX_RESTFUL_HOST=${sidecar.url}`;
  process.stdout.write(
    [
      `Sidecar on a ${opts.size}-node test broker: ${sidecar.url}  (web UI: ${sidecar.url}/)`,
      opts.auth ? `Log in as ${credentials.FLUX_USER} with token ${credentials.FLUX_TOKEN}` : "Auth is off.",
      "",
      "In another terminal:",
      `  export ${env}`,
      "  npx flux-restful nodes",
      "  npx flux-restful submit -N 2 -n 4 --wait -- hostname",
      "  npx flux-restful jobs",
      "",
      "Ctrl-C stops both.",
      "",
    ].join("\n"),
  );

  const stop = async () => {
    await sidecar.close();
    await broker.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
  await sidecar.stopped;
  await broker.stop();
}

main().catch((err) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exit(1);
});
