/**
 * `npm run demo`: the whole product on this machine, with no Flux and no cloud account.
 * A test broker (4 fake nodes whose jobs run as local processes) and the sidecar in front of it,
 * with auth on and fresh credentials, until Ctrl-C or SIGTERM, which stop every job process and
 * remove the broker's directory (so does a failed start). Prints what to paste into a second terminal.
 *
 *   npm run demo                 # http://127.0.0.1:5000
 *   npm run demo -- --port 8080 --no-auth
 *   npm run demo -- --port 0     # any free port
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer } from "node:net";
import { Command, InvalidArgumentError } from "commander";
import { loadConfig } from "../sidecar/config";
import { startSidecar, type SidecarHandle } from "../sidecar/server";
import { TestBroker } from "../test/test-broker";

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a port number");
  return n;
}

/** A port nothing listens on right now, to suggest when the asked one is taken. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
}

async function main(): Promise<void> {
  const opts = new Command()
    .name("npm run demo --")
    .description("Run the sidecar on a local test broker (no Flux, no cloud)")
    .option("--port <port>", "HTTP port (0: any free port)", port, 5000)
    .option("--size <n>", "number of fake nodes", port, 4)
    .option("--no-auth", "serve without authentication")
    .parse()
    .opts<{ port: number; size: number; auth: boolean }>();

  const broker = await TestBroker.start({ size: opts.size });
  // Where jobs run and leave their results, as the MiniCluster's workspace: removed on the way out.
  const workspace = mkdtempSync(path.join(tmpdir(), "flux-demo-workspace-"));
  let sidecar: SidecarHandle | undefined;
  const stop = async (code: number) => {
    await sidecar?.close();
    await broker.stop(); // kills every job's process group and removes the broker's directory
    rmSync(workspace, { recursive: true, force: true });
    process.exit(code);
  };
  // from here on every way out goes through stop()
  process.once("SIGINT", () => void stop(0)).once("SIGTERM", () => void stop(0));

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
    FLUX_WORKSPACE: workspace,
    HOST: "127.0.0.1",
    PORT: String(opts.port),
    FLUX_LOG_LEVEL: "warn",
  });
  try {
    sidecar = await startSidecar(config);
  } catch (err) {
    const busy = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
    process.stderr.write(
      busy
        ? `demo: port ${opts.port} is in use. Pick another, e.g. \`npm run demo -- --port ${await freePort()}\` (free right now), or --port 0 for any free port.\n`
        : `demo: ${(err as Error).message}\n`,
    );
    return stop(1);
  }

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
      "  npx flux-restful cluster",
      "  npx flux-restful run -N 2 -n 4 -l hostname",
      "  npx flux-restful jobs",
      "  npx flux-restful run -N 2 -n 2 --file README.md --get 'lines.*' -- sh -c 'wc -l < {{tmpdir}}/README.md > lines.$FLUX_TASK_RANK'",
      "  npx flux-restful files ls jobs",
      "",
      "Ctrl-C stops both. Another port: npm run demo -- --port N (0 for any free one).",
      "",
    ].join("\n"),
  );
  await sidecar.stopped;
  await stop(0);
}

main().catch((err) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exit(1);
});
