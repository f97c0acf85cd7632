/**
 * Unmodified Flux tools through the proxy, against the real broker this run is inside
 * (`npm run test:flux -- proxy`, and `npm test` when flux is on PATH, see scripts/test-flux.ts):
 * flux jobs, submit --wait, job attach, resource list, the Python bindings, and a denied topic.
 * Skipped, saying so, outside a real instance.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { listenProxy, type ProxyListener } from "../../client/src/proxy";
import { fluxExecutable, realBrokerRequested, startBroker } from "../support/broker";
import { startTestSidecar, type Broker, type Sidecar } from "../sidecar/support";

const execFileAsync = promisify(execFile);

describe("flux proxy: real flux tools (real broker)", function () {
  this.timeout(120_000);
  let broker: Broker;
  let sidecar: Sidecar;
  let proxy: ProxyListener;
  let flux: string;

  /** Runs `flux ARGS` with FLUX_URI of the proxy; resolves to its stdout and stderr, rejects on a nonzero status. */
  const run = (args: string[]) =>
    execFileAsync(flux, args, { env: { ...process.env, FLUX_URI: proxy.uri }, timeout: 60_000, maxBuffer: 16 << 20 });

  before(async function () {
    if (!realBrokerRequested() || !fluxExecutable()) {
      console.log("      real flux tools through the proxy: skipped (no real broker; run `npm run test:flux -- proxy` with flux on PATH)");
      this.skip();
    }
    flux = fluxExecutable()!;
    broker = await startBroker();
    sidecar = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_PROXY: "true" });
    proxy = await listenProxy({ host: sidecar.url, user: sidecar.user, token: sidecar.token });
  });
  after(async () => {
    await proxy?.close();
    await sidecar?.close();
  });

  it("flux submit --wait, flux job attach and flux jobs -a", async () => {
    const { stdout: id } = await run(["submit", "--wait", "echo", "proxied"]);
    const { stdout: output } = await run(["job", "attach", id.trim()]);
    assert.equal(output, "proxied\n");
    const { stdout: jobs } = await run(["jobs", "-a", "-no", "{id.f58}"]);
    assert.ok(jobs.split("\n").includes(id.trim()), jobs);
  });

  it("flux resource list", async () => {
    const { stdout } = await run(["resource", "list"]);
    assert.match(stdout, /STATE\s+NNODES/);
    assert.match(stdout, new RegExp(`free\\s+${broker.size}\\b`));
  });

  it("the Python bindings", async () => {
    const script = "import flux, flux.job; h = flux.Flux(); print(h.attr_get('size'), len(flux.job.JobList(h).jobs()) > 0)";
    const { stdout } = await run(["python", "-c", script]);
    assert.equal(stdout, `${broker.size} True\n`);
  });

  it("a denied topic fails the tool at once with the proxy's reason", async () => {
    await assert.rejects(run(["module", "load", "sched-simple"]), (err: { stderr?: string; code?: number }) => {
      assert.match(err.stderr ?? "", /is not allowed through the flux-restful proxy/);
      assert.notEqual(err.code, 0);
      return true;
    });
  });
});
