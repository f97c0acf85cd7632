/**
 * Inside `npm test`: the contract suite once more against a real broker (`flux start
 * --test-size=4`, see scripts/test-flux.ts) when `flux` is on PATH; skipped otherwise.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { SKIP_MESSAGE, realBrokerCommand } from "../../scripts/test-flux";
import { fluxExecutable, realBrokerRequested } from "../support/broker";

describe("contract: real broker run", function () {
  this.timeout(300_000);

  it("passes the contract suite against flux start --test-size=4", async function () {
    if (realBrokerRequested()) this.skip(); // this is the run itself
    const flux = fluxExecutable();
    if (!flux) {
      console.log(`      ${SKIP_MESSAGE}`);
      this.skip();
    }
    const root = path.resolve(__dirname, "..", "..");
    const child = spawn(flux, realBrokerCommand(root), { cwd: root, env: { ...process.env, FLUX_CONTRACT_REAL: "1" } });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    const summary = /(\d+) passed, (\d+) failed/.exec(output);
    assert.ok(summary, `no summary line from the real-broker run:\n${output.slice(-3000)}`);
    assert.equal(Number(summary[2]), 0, `contract failures against the real broker:\n${output.slice(-6000)}`);
    assert.ok(Number(summary[1]) > 0);
    assert.equal(code, 0, output.slice(-3000));
  });
});
