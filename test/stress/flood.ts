/**
 * npm run test:flood [-- BUNDLE [CONNECTIONS]]: idle connections from many loopback addresses
 * against the bundled sidecar (default dist/sidecar.js, 6000 connections) run with the
 * MiniCluster flags and a descriptor limit of 4096, so that a flood can reach it. Prints RSS and
 * the health routes before, during and after. Loopback only; it stops by itself.
 */
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { startBroker } from "../support/broker";
import { freePort } from "../support/free-port";
import { SIDECAR_MALLOC_ENV, SIDECAR_NODE_FLAGS } from "../../components/minicluster.build";

const bundle = process.argv[2] ?? "dist/sidecar.js";
const total = Number(process.argv[3] ?? 6000);
const perAddress = 60;
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function get(port: number, path: string): Promise<string> {
  const t0 = performance.now();
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return `${res.status} in ${(performance.now() - t0).toFixed(0)} ms`;
  } catch (err) {
    return `failed (${(err as Error).cause ?? (err as Error).message})`;
  }
}

async function main() {
  const broker = await startBroker();
  const port = await freePort();
  // The sidecar keeps this machine's default descriptor limit; the flooding side gets more.
  const child = spawn("sh", ["-c", 'ulimit -n 4096 && exec "$0" "$@"', process.execPath, ...SIDECAR_NODE_FLAGS, bundle], {
    env: { ...process.env, ...SIDECAR_MALLOC_ENV, FLUX_URI: broker.uri, HOST: "127.0.0.1", PORT: String(port), FLUX_LOG_LEVEL: "silent" },
    stdio: "ignore",
  });
  for (let i = 0; i < 100 && !(await get(port, "/healthz")).startsWith("200"); i++) await sleep(100);
  console.log(`idle RSS ${rss(child.pid!).toFixed(1)} MiB; /healthz ${await get(port, "/healthz")}`);
  const sockets: Socket[] = [];
  let closedByServer = 0;
  for (let a = 0; sockets.length < total; a++) {
    const local = `127.0.${10 + Math.floor(a / 250)}.${(a % 250) + 1}`;
    await Promise.all(Array.from({ length: Math.min(perAddress, total - sockets.length) }, () => new Promise<void>((resolve) => {
      const s = connect({ port, host: "127.0.0.1", localAddress: local });
      s.on("error", () => resolve());
      s.on("close", () => closedByServer++);
      s.on("connect", () => resolve());
      sockets.push(s);
    })));
  }
  await sleep(2000);
  const open = sockets.filter((s) => !s.destroyed && !s.closed).length;
  console.log(`${total} idle connections opened; still open after 2 s: ${open}; RSS ${rss(child.pid!).toFixed(1)} MiB`);
  console.log(`during the flood: /healthz ${await get(port, "/healthz")}, /readyz ${await get(port, "/readyz")}`);
  for (const s of sockets) s.destroy();
  await sleep(2000);
  console.log(`after closing them: RSS ${rss(child.pid!).toFixed(1)} MiB; /healthz ${await get(port, "/healthz")}`);
  child.kill();
  await broker.stop();
  process.exit(0);
}
void main();
