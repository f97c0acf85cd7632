/**
 * Child-process side of child-sidecar.ts: starts the sidecar from its environment (as production
 * does) with logs on stdout, reports its URL over IPC, answers probes (RSS and the own property
 * names of Object.prototype) and stops on request or when the parent goes away.
 */
import { loadConfig } from "../../../sidecar/config";
import { startSidecar } from "../../../sidecar/server";

type Request = { type: "probe"; seq: number } | { type: "stop" };

async function main(): Promise<void> {
  if (!process.send) throw new Error("sidecar-child must be started with an IPC channel (child_process.fork)");
  const sidecar = await startSidecar(loadConfig(process.env), { logDestination: process.stdout });
  const stop = () => void sidecar.close().then(() => process.exit(0));
  process.on("message", (msg: Request) => {
    if (msg.type === "probe") {
      globalThis.gc?.(); // retained memory, not garbage that happens to be uncollected
      process.send!({ type: "probe", seq: msg.seq, rss: process.memoryUsage.rss(), prototypeKeys: Object.getOwnPropertyNames(Object.prototype) });
    } else if (msg.type === "stop") stop();
  });
  process.on("disconnect", stop);
  process.send({ type: "ready", url: sidecar.url, port: sidecar.port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
