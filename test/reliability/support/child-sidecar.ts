/**
 * The sidecar in a child process: its memory is measured alone, and a request that blocks its
 * event loop (a hang) shows up as a timeout in the test process instead of freezing it. The
 * child is bundled with esbuild the way `npm run build` bundles the sidecar and runs on plain
 * node (no TypeScript loader in its memory), with the memory settings the MiniCluster uses, and
 * with --expose-gc so probes read RSS after a GC.
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { SIDECAR_MALLOC_ENV, SIDECAR_NODE_FLAGS } from "../../../components/minicluster.build";

export interface Probe {
  rss: number;
  prototypeKeys: string[];
}

export interface ChildSidecar {
  url: string;
  port: number;
  pid: number;
  /** Everything the child wrote to stdout and stderr (its JSON log lines). */
  output(): string;
  probe(timeoutMs?: number): Promise<Probe>;
  /** Asks the sidecar to close, killing it if it does not exit within 5 s. */
  stop(): Promise<void>;
}

let bundled: Promise<string> | undefined;

/** Bundles sidecar-child.ts once per test process into a temporary directory. */
function childBundle(): Promise<string> {
  bundled ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "flux-sidecar-child-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const outfile = join(dir, "sidecar-child.js");
    await build({
      entryPoints: [join(__dirname, "sidecar-child.ts")],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      logLevel: "warning",
    });
    return outfile;
  })();
  return bundled;
}

export async function startChildSidecar(env: Record<string, string>): Promise<ChildSidecar> {
  const chunks: string[] = [];
  const child: ChildProcess = fork(await childBundle(), [], {
    execArgv: [...SIDECAR_NODE_FLAGS, "--expose-gc"],
    env: { ...process.env, ...SIDECAR_MALLOC_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));

  const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar did not start within 30 s:\n${chunks.join("")}`)), 30_000);
    child.on("message", (msg: { type: string; url?: string; port?: number }) => {
      if (msg.type !== "ready") return;
      clearTimeout(timer);
      resolve({ url: msg.url!, port: msg.port! });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sidecar exited with ${code} before it was ready:\n${chunks.join("")}`));
    });
  });

  let seq = 0;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    ...ready,
    pid: child.pid!,
    output: () => chunks.join(""),
    probe(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const mine = ++seq;
        const timer = setTimeout(() => {
          child.off("message", onMessage);
          reject(new Error(`the sidecar did not answer a probe within ${timeoutMs} ms (event loop blocked?)`));
        }, timeoutMs);
        const onMessage = (msg: { type: string; seq?: number } & Probe) => {
          if (msg.type !== "probe" || msg.seq !== mine) return;
          clearTimeout(timer);
          child.off("message", onMessage);
          resolve({ rss: msg.rss, prototypeKeys: msg.prototypeKeys });
        };
        child.on("message", onMessage);
        child.send({ type: "probe", seq: mine });
      });
    },
    async stop() {
      if (exited()) return;
      const done = once(child, "exit");
      if (child.connected) child.send({ type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await done;
      clearTimeout(timer);
    },
  };
}
