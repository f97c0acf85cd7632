/**
 * The broker's flux-core version in the sidecar: logged once at start-up, reported by /readyz and
 * /v1/cluster; a broker outside the tested range is served with a warning, and a request it has
 * no service for is answered 501 with a clear message (never a hang, never a 500).
 */
import { strict as assert } from "node:assert";
import { fluxCoreSupport, parseFluxCoreVersion, SUPPORTED_FLUX_CORE, TESTED_FLUX_CORE } from "../../sidecar/flux";
import { startBroker, type BrokerHandle } from "../support/broker";
import { sleep, startTestSidecar, type Sidecar } from "./support";

async function versionLines(s: Sidecar, timeoutMs = 5000): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = s.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l.fluxVersion === "string");
    if (lines.length || Date.now() > deadline) return lines;
    await sleep(20);
  }
}

describe("sidecar: the broker's flux-core version", function () {
  this.timeout(30000);

  describe("the broker of this run (test broker, or the real one under npm run test:flux)", () => {
    let broker: BrokerHandle;
    let sidecar: Sidecar;
    before(async () => {
      broker = await startBroker({ size: 4 });
      sidecar = await startTestSidecar(broker);
    });
    after(async () => {
      await sidecar?.close();
      await broker?.stop();
    });

    it("logs the version once at start-up, in the tested range", async () => {
      const lines = await versionLines(sidecar);
      assert.equal(lines.length, 1, "exactly one version line");
      assert.equal(lines[0].fluxVersion, broker.version);
      assert.equal(lines[0].msg, `Flux broker runs flux-core ${broker.version}`);
      assert.equal(lines[0].level, 30, "info: a tested release line");
      assert.ok(fluxCoreSupport(broker.version).supported, `${broker.version} is in the supported range`);
      await fetch(`${sidecar.url}/readyz`);
      await sleep(100);
      assert.equal((await versionLines(sidecar)).length, 1, "still one line after more calls");
    });

    it("reports it in /readyz and /v1/cluster", async () => {
      const ready = (await (await fetch(`${sidecar.url}/readyz`)).json()) as Record<string, unknown>;
      assert.equal(ready.status, "ready");
      assert.equal(ready.fluxVersion, broker.version);
      const cluster = (await (await fetch(`${sidecar.url}/v1/cluster`)).json()) as Record<string, unknown>;
      assert.equal(cluster.fluxVersion, broker.version);
      assert.equal((cluster.up as string[]).length, broker.size);
    });
  });

  describe("a broker outside the tested range (test broker)", () => {
    for (const [version, word] of [["0.99.0", "newer"], ["0.50.0", "older"]] as const) {
      it(`serves flux-core ${version} with a warning naming the range`, async () => {
        const broker = await startBroker({ kind: "test", size: 2, version });
        const sidecar = await startTestSidecar(broker);
        try {
          const [line] = await versionLines(sidecar);
          assert.equal(line.level, 40, "warn");
          assert.equal(line.fluxVersion, version);
          assert.match(String(line.msg), new RegExp(`flux-core ${version.replace(/\./g, "\\.")} is ${word} than`));
          assert.match(String(line.msg), new RegExp(`${SUPPORTED_FLUX_CORE.min} to ${SUPPORTED_FLUX_CORE.max}\\.x`));
          const ready = await fetch(`${sidecar.url}/readyz`);
          assert.equal(ready.status, 200);
          assert.equal(((await ready.json()) as { fluxVersion: string }).fluxVersion, version);
          assert.equal((await fetch(`${sidecar.url}/v1/jobs`)).status, 200, "what it supports is served");
        } finally {
          await sidecar.close();
          await broker.stop();
        }
      });
    }

    it("answers 501 naming the broker call for a request the broker has no service for", async () => {
      const broker = await startBroker({ kind: "test", size: 2, version: "0.99.0" });
      const sidecar = await startTestSidecar(broker);
      try {
        broker.testBroker!.removeService("job-list.list");
        broker.testBroker!.removeService("job-ingest.submit");
        const list = await fetch(`${sidecar.url}/v1/jobs`, { signal: AbortSignal.timeout(5000) });
        assert.equal(list.status, 501);
        assert.deepEqual(await list.json(), {
          detail: "The Flux broker does not support this request (job-list.list): No service matching job-list.list is registered",
        });
        const submit = await fetch(`${sidecar.url}/v1/jobs/submit?command=true`, { method: "POST", signal: AbortSignal.timeout(5000) });
        assert.equal(submit.status, 501);
        assert.match(((await submit.json()) as { detail: string }).detail, /\(job-ingest\.submit\): No service matching job-ingest\.submit/);
        assert.equal((await fetch(`${sidecar.url}/readyz`)).status, 200, "the broker itself is up");
        assert.ok(!sidecar.logLines.some((l) => /unhandled error/.test(l)), "no 500 path");
      } finally {
        await sidecar.close();
        await broker.stop();
      }
    });
  });
});

describe("flux-core versions", () => {
  it("reads release and development version strings", () => {
    assert.deepEqual(parseFluxCoreVersion("0.55.0"), { major: 0, minor: 55, patch: 0, text: "0.55.0" });
    assert.deepEqual(parseFluxCoreVersion("0.88.0-59-g4a5e79f56"), { major: 0, minor: 88, patch: 0, text: "0.88.0-59-g4a5e79f56" });
    assert.equal(parseFluxCoreVersion("v0.70.1")?.minor, 70);
    assert.equal(parseFluxCoreVersion("unknown"), undefined);
  });

  it("supports 0.55.0 through 0.88.x, every tested release among them", () => {
    for (const v of [...TESTED_FLUX_CORE, "0.61.2", "0.88.7", "0.88.0-59-g4a5e79f56"]) assert.ok(fluxCoreSupport(v).supported, v);
    for (const v of ["0.54.0", "0.89.0", "1.0.0", "garbage"]) assert.ok(!fluxCoreSupport(v).supported, v);
  });
});
