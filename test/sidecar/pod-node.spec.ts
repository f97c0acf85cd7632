/**
 * The guard for the pod's runtime: dist/sidecar.js on the exact Node release of the sidecar image,
 * with the MiniCluster's node flags and malloc settings. That node refuses a flag it does not know
 * (exit 9, "bad option"), so a sidecar that starts, writes nothing to stderr and answers proves
 * every flag is accepted. The node comes from the npm registry (test/support/pod-node.ts) unless it
 * is the one running; where neither is possible the suite says so and skips. Memory and speed are
 * the benchmark's (`npm run bench:sidecar`), not a timed test's.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import { promisify } from "node:util";
import { SIDECAR_IMAGE, SIDECAR_MALLOC_ENV, SIDECAR_NODE_FLAGS, SIDECAR_NODE_VERSION } from "../../components/minicluster.build";
import { DEFAULTS } from "../../infra/config";
import { buildSidecar, SIDECAR_BUNDLE } from "../../scripts/build";
import { startBroker } from "../support/broker";
import { podNode } from "../support/pod-node";
import type { Broker } from "./support";

const run = promisify(execFile);

describe(`sidecar: dist/sidecar.js on the pod's Node (${SIDECAR_NODE_VERSION}) with the MiniCluster's flags`, function () {
  let node: string;
  let broker: Broker;

  before(async function () {
    this.timeout(300_000); // the first run downloads the node package (about 30 MB)
    const pod = await podNode();
    if ("skip" in pod) {
      console.log(`      skipped: ${pod.skip}`);
      this.skip();
    }
    node = pod.execPath;
    if (!fs.existsSync(SIDECAR_BUNDLE)) await buildSidecar();
    broker = await startBroker();
  });
  after(async () => {
    await broker?.stop();
  });

  it("is the release the default sidecar image pins", async () => {
    assert.equal(DEFAULTS.sidecarImage, SIDECAR_IMAGE);
    assert.equal((await run(node, ["--version"])).stdout.trim(), `v${SIDECAR_NODE_VERSION}`);
  });

  it("refuses a flag it does not know, so starting with ours proves they are accepted", async () => {
    const refused = await run(node, ["--no-such-v8-flag", "-e", "0"]).then(
      () => assert.fail("node accepted an unknown flag"),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(refused.code, 9);
    assert.match(refused.stderr, /bad option: --no-such-v8-flag/);
  });

  it("starts with the MiniCluster's node flags and malloc settings, warns of nothing, and the API answers", async function () {
    this.timeout(60_000);
    const basic = `Basic ${Buffer.from("pod:pod-token").toString("base64")}`;
    const child = spawn(node, [...SIDECAR_NODE_FLAGS, SIDECAR_BUNDLE], {
      env: {
        PATH: process.env.PATH ?? "",
        ...SIDECAR_MALLOC_ENV,
        FLUX_URI: broker.uri,
        HOST: "127.0.0.1",
        PORT: "0",
        FLUX_REQUIRE_AUTH: "true",
        FLUX_USER: "pod",
        FLUX_TOKEN: "pod-token",
        FLUX_SECRET_KEY: "pod-secret",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = once(child, "exit");
    try {
      let url: string | undefined;
      for (let i = 0; i < 400 && !url && child.exitCode === null; i++) {
        url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout)?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(url, `no banner; stdout: ${stdout} stderr: ${stderr}`);
      const get = (path: string) => fetch(`${url}${path}`, { headers: { authorization: basic } });

      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      const submitted = await fetch(`${url}/v1/jobs/submit?command=true`, { method: "POST", headers: { authorization: basic } });
      assert.equal(submitted.status, 200);
      const { id } = (await submitted.json()) as { id: number };
      const { jobs } = (await (await get("/v1/jobs")).json()) as { jobs: Array<{ id: number }> };
      assert.ok(jobs.some((job) => job.id === id), `job ${id} not listed`);
      // One name per host: a real test instance runs all its ranks on one.
      assert.deepEqual(await (await get("/v1/nodes")).json(), { nodes: [...new Set(broker.hostnames)] });
      // The sidecar's own report of the runtime it is on.
      assert.match(await (await get("/metrics")).text(), new RegExp(`flux_sidecar_nodejs_version_info\\{version="v${SIDECAR_NODE_VERSION}"`));

      child.kill("SIGTERM");
      const [code] = (await exit) as [number | null];
      assert.equal(code, 0);
      assert.equal(stderr, "");
    } finally {
      child.kill("SIGKILL");
    }
  });
});
