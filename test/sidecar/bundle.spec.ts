/**
 * dist/sidecar.js: one file, at most 700 KiB, that runs from a directory with no node_modules:
 * it serves /healthz and /readyz, exits 1 with one clear message on bad configuration, and exits
 * 0 on SIGTERM.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BUNDLE_LIMIT_BYTES, buildSidecar, SIDECAR_BUNDLE } from "../../scripts/build";
import { freePort } from "../support/free-port";
import { startBroker } from "../support/broker";
import type { Broker } from "./support";

function run(script: string, env: Record<string, string>, nodeArgs: string[] = []): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [...nodeArgs, script], { cwd: path.dirname(script), env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exit };
}

describe("sidecar: the one-file bundle", function () {
  this.timeout(60_000);
  let dir: string;
  let script: string;
  let broker: Broker;

  before(async () => {
    if (!fs.existsSync(SIDECAR_BUNDLE)) await buildSidecar();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-bundle-"));
    script = path.join(dir, "sidecar.js");
    fs.copyFileSync(SIDECAR_BUNDLE, script);
    broker = await startBroker();
  });
  after(async () => {
    await broker?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`is one file of at most ${BUNDLE_LIMIT_BYTES / 1024} KiB`, () => {
    const size = fs.statSync(SIDECAR_BUNDLE).size;
    assert.ok(size <= BUNDLE_LIMIT_BYTES, `${size} bytes`);
    assert.ok(!fs.existsSync(path.join(dir, "node_modules")));
  });

  it("runs with no node_modules beside it and serves /healthz, /readyz and /", async () => {
    const proc = run(script, { FLUX_URI: broker.uri, HOST: "127.0.0.1", PORT: "0" });
    try {
      let url: string | undefined;
      for (let i = 0; i < 200 && !url; i++) {
        url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(proc.output())?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(url, `no banner in: ${proc.output()}`);
      assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: "ok" });
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      assert.equal((await fetch(`${url}/`)).status, 200);
      assert.equal((await fetch(`${url}/v1/nodes`)).status, 200);
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exit, 0);
    } finally {
      proc.child.kill("SIGKILL");
    }
  });

  it("serves again after POST /v1/service/stop with FLUX_RESTART_ON_STOP (as in the MiniCluster), and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const credentials = `Basic ${Buffer.from("fluxuser:restart-token").toString("base64")}`;
    const proc = run(script, { FLUX_URI: broker.uri, HOST: "127.0.0.1", PORT: String(port), FLUX_TOKEN: "restart-token", FLUX_RESTART_ON_STOP: "true" });
    const healthy = async () => {
      for (let i = 0; i < 200; i++) {
        const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
        if (ok) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.fail(`no answer at ${url}: ${proc.output()}`);
    };
    try {
      await healthy();
      const stop = await fetch(`${url}/v1/service/stop`, { method: "POST", headers: { authorization: credentials } });
      assert.equal(stop.status, 200);
      await stop.arrayBuffer();
      for (let i = 0; i < 200 && !proc.output().includes("serving again"); i++) await new Promise((r) => setTimeout(r, 25));
      assert.match(proc.output(), /serving again after the stop/);
      await healthy();
      assert.equal(proc.child.exitCode, null, "the process is still running");
      assert.equal((await fetch(`${url}/v1/nodes`, { headers: { authorization: credentials } })).status, 200);
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exit, 0);
    } finally {
      proc.child.kill("SIGKILL");
    }
  });

  it("loads neither TLS nor zlib when serving plain HTTP, /metrics included (the parts of dependencies that would are left out)", async () => {
    // Node's own record of the built-in modules the process loaded, written as it exits.
    const preload = path.join(dir, "modules.js");
    fs.writeFileSync(preload, `process.on("exit", () => process.stderr.write("modules: " + process.moduleLoadList.join(",") + "\\n"));`);
    const proc = run(script, { FLUX_URI: broker.uri, HOST: "127.0.0.1", PORT: "0" }, ["--require", preload]);
    try {
      let url: string | undefined;
      for (let i = 0; i < 200 && !url; i++) {
        url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(proc.output())?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(url, `no banner in: ${proc.output()}`);
      const metrics = await fetch(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^flux_sidecar_connections_open 1$/m);
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exit, 0);
      const modules = /modules: (.*)/.exec(proc.output())?.[1].split(",") ?? [];
      assert.ok(modules.includes("NativeModule http"), `no module list in: ${proc.output()}`);
      for (const unwanted of ["NativeModule tls", "NativeModule https", "NativeModule zlib"]) assert.ok(!modules.includes(unwanted), unwanted);
    } finally {
      proc.child.kill("SIGKILL");
    }
  });

  it("exits 1 with one clear message naming the variable when the configuration is invalid", async () => {
    const proc = run(script, { FLUX_REQUIRE_AUTH: "true", FLUX_SECRET_KEY: "s" });
    assert.equal(await proc.exit, 1);
    assert.equal(proc.output(), "flux-restful-sidecar: invalid configuration: FLUX_TOKEN must be set when FLUX_REQUIRE_AUTH is true\n");
  });
});
