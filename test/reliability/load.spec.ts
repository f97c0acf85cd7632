/**
 * The load run in its short form (8 clients, 3k requests, RSS sampled after 1.5k and 3k), so
 * CI exercises the same checks as `npm run test:stress`: zero errors, zero lost submissions,
 * RSS stable (within 20% at this length, 10% in the full run), no secret in the logs. Figures are printed, never asserted on timing.
 */
import assert from "node:assert/strict";
import { runStress, SHORT_PROFILE } from "../stress/stress";

describe("reliability: load (short form of npm run test:stress)", function () {
  // Seeding 1000 jobs and 3k requests take about 20 s on an idle 2-core machine; far longer on a busy one.
  this.timeout(600_000);

  it("mixes list, info, submit, output, stream and cancel with auth on: no errors, nothing lost, memory stable", async () => {
    const { report, violations, summary } = await runStress(SHORT_PROFILE);
    console.log(summary.replace(/^/gm, "      "));
    assert.deepEqual(violations, []);
    for (const [op, stats] of Object.entries(report.byOperation)) assert.ok(stats.count > 0, `no ${op} request was made`);
  });
});
