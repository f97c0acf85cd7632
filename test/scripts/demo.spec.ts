/**
 * `npm run demo` as a real process: a busy port gets a free one named and leaves nothing behind;
 * SIGTERM stops it with every job process (and what those started) and its broker directory.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { FluxRestfulClient } from "flux-restful-client";

const ROOT = path.resolve(__dirname, "../..");

function startDemo(args: string[], tmp: string) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts/demo.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, TMPDIR: tmp },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** The test broker's socket directories under `tmp` (tsx keeps its cache there too). */
const brokerDirs = (tmp: string) => readdirSync(tmp).filter((name) => name.startsWith("flux-test-") || name.startsWith("flux-demo-workspace-"));

/** Alive and not a zombie (in a container nothing may reap one). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("npm run demo", function () {
  this.timeout(60_000);
  let tmp: string;
  let work: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(tmpdir(), "demo-tmp-"));
    work = mkdtempSync(path.join(tmpdir(), "demo-work-"));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it("names a free port when its port is busy, and leaves no broker directory behind", async () => {
    const busy = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => busy.once("listening", r));
    const { port } = busy.address() as { port: number };
    try {
      const demo = startDemo(["--port", String(port)], tmp);
      assert.equal(await demo.exited, 1);
      const { stderr } = demo.output();
      assert.match(stderr, new RegExp(`^demo: port ${port} is in use\\. Pick another, e\\.g\\. \`npm run demo -- --port (\\d+)\` \\(free right now\\), or --port 0 for any free port\\.\\n$`));
      assert.deepEqual(brokerDirs(tmp), [], "the broker's directory was removed");
    } finally {
      busy.close();
    }
  });

  it("stops every job process on SIGTERM and removes its broker directory", async () => {
    const demo = startDemo(["--port", "0", "--no-auth"], tmp);
    while (!/^Ctrl-C stops both/m.test(demo.output().stdout)) {
      assert.equal(demo.child.exitCode, null, demo.output().stderr);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /test broker: (http:\/\/\S+)/.exec(demo.output().stdout)![1];
    assert.match(demo.output().stdout, /Another port: npm run demo -- --port N \(0 for any free one\)/);
    const pidFile = path.join(work, "pid");
    const client = new FluxRestfulClient({ host: url });
    await client.submit({ command: ["sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`] });
    while (!existsSync(pidFile) || !readFileSync(pidFile, "utf8").endsWith("\n")) await new Promise((r) => setTimeout(r, 50));
    const sleeper = Number(readFileSync(pidFile, "utf8"));
    assert.ok(running(sleeper));
    assert.equal(brokerDirs(tmp).length, 2, "the broker's directory and the workspace");
    demo.child.kill("SIGTERM");
    assert.equal(await demo.exited, 0, demo.output().stderr);
    assert.equal(running(sleeper), false, "the job's processes are gone");
    assert.deepEqual(brokerDirs(tmp), [], "the broker's directory and the workspace were removed");
  });
});
