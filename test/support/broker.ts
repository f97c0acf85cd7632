/**
 * The broker every test talks to. Inside a real Flux instance with FLUX_CONTRACT_REAL=1 (which
 * `npm run test:flux` sets up) it is that instance; otherwise an in-process test broker on a
 * socket in a temporary directory.
 *
 *   const broker = await startBroker({ size: 4 });
 *   const client = new FluxClient({ uri: broker.uri });
 *   ...
 *   await broker.stop();
 *
 * Tests that need fault hooks use `broker.testBroker` and skip when it is undefined (real broker).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { FluxClient } from "../../sidecar/flux";
import { TestBroker, type TestBrokerOptions } from "../test-broker";

export interface BrokerHandle {
  uri: string;
  kind: "test" | "real";
  size: number;
  hostnames: string[];
  /** flux-core version the broker reports (the emulated one for the test broker) */
  version: string;
  /** Stops the test broker; a real broker belongs to `flux start` and is left running. */
  stop(): Promise<void>;
  /** Marks a node down (drained) or up: the test broker's model, or `flux resource drain/undrain`. */
  setNodeDown(rank: number, down: boolean): Promise<void>;
  /** Fault hooks; only for kind "test". */
  testBroker?: TestBroker;
}

export interface StartBrokerOptions extends TestBrokerOptions {
  /** "test" forces a test broker even inside a real instance (for tests that need fault hooks). */
  kind?: "auto" | "test";
}

/** True when this process should use the real broker it runs inside. */
export function realBrokerRequested(): boolean {
  return process.env.FLUX_CONTRACT_REAL === "1" && !!process.env.FLUX_URI;
}

/** Is a `flux` executable on PATH? */
export function hasRealFlux(): boolean {
  return fluxExecutable() !== undefined;
}

export function fluxExecutable(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "flux");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const execFileAsync = promisify(execFile);

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerHandle> {
  if (opts.kind !== "test" && realBrokerRequested()) return attachRealBroker(process.env.FLUX_URI!);
  const testBroker = await TestBroker.start(opts);
  return {
    uri: testBroker.uri,
    kind: "test",
    size: testBroker.size,
    hostnames: testBroker.hostnames,
    version: testBroker.version,
    stop: () => testBroker.stop(),
    setNodeDown: async (rank, down) => testBroker.setNodeDown(rank, down),
    testBroker,
  };
}

async function attachRealBroker(uri: string): Promise<BrokerHandle> {
  const client = new FluxClient({ uri });
  try {
    const info = await client.brokerInfo();
    return {
      uri,
      kind: "real",
      size: info.size,
      hostnames: info.hostlist,
      version: info.version,
      stop: async () => {},
      setNodeDown: async (rank, down) => {
        const args = down ? ["resource", "drain", String(rank), "contract test"] : ["resource", "undrain", String(rank)];
        await execFileAsync("flux", args, { env: { ...process.env, FLUX_URI: uri } });
      },
    };
  } finally {
    await client.close();
  }
}
