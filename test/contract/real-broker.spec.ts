/**
 * Inside `npm test`: every real-broker suite (contract, sidecar, client, reliability, web) once
 * more against a real broker, each in its own `flux start --test-size=4` (see
 * scripts/test-flux.ts), when `flux` is on PATH; skipped, saying so, otherwise.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { REAL_BROKER_SUITES, SKIP_MESSAGE, runRealBrokerSuite } from "../../scripts/test-flux";
import { fluxExecutable, realBrokerRequested } from "../support/broker";

describe("real broker runs (flux on PATH)", function () {
  this.timeout(1_200_000);
  const root = path.resolve(__dirname, "..", "..");

  before(function () {
    if (realBrokerRequested()) this.skip(); // this is one of the runs itself
    if (!fluxExecutable()) {
      console.log(`      ${SKIP_MESSAGE}`);
      this.skip();
    }
  });

  for (const suite of Object.keys(REAL_BROKER_SUITES)) {
    it(`passes the ${suite} suite against flux start --test-size=4`, async () => {
      const r = await runRealBrokerSuite(fluxExecutable()!, root, suite);
      assert.ok(/\d+ passed, \d+ failed/.test(r.output), `no summary line from the ${suite} run:\n${r.output.slice(-3000)}`);
      assert.equal(r.failed, 0, `${suite} failures against the real broker:\n${r.output.slice(-6000)}`);
      assert.ok(r.passed > 0);
      assert.equal(r.exitCode, 0, r.output.slice(-3000));
    });
  }
});
