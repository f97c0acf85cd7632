/** Job ids beyond 2^53 (an instance up for more than ~6 days) travel as exact JSON integers. */
import assert from "node:assert/strict";
import { BIG_ID_START_MS } from "../test-broker";
import { startBroker } from "../support/broker";
import { apiFor, type Api, type Broker, q, type Sidecar, startTestSidecar, submit, waitInactive } from "./support";

describe("sidecar: ids above 2^53", function () {
  this.timeout(30_000);
  let broker: Broker;
  let sidecar: Sidecar;
  let api: Api;

  before(async () => {
    broker = await startBroker({ kind: "test", fluidStartMs: BIG_ID_START_MS }); // the clock needs the test broker
    sidecar = await startTestSidecar(broker);
    api = apiFor(sidecar);
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
  });

  it("submit, info, listings and cancel carry the exact id", async () => {
    const id = await submit(api, q({ command: "true" }));
    assert.ok(BigInt(id) > BigInt(Number.MAX_SAFE_INTEGER), id);
    await waitInactive(api, id);
    assert.ok((await (await api(`/v1/jobs/${id}`)).text()).startsWith(`{"id":${id},`));
    assert.match(await (await api("/v1/jobs")).text(), new RegExp(`"id":${id}[,}]`));
    assert.match(await (await api("/v1/jobs?details=true")).text(), new RegExp(`^\\{"${id}":\\{"id":${id},`));
    const cancel = await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
    assert.equal(((await cancel.json()) as { id: string }).id, id);
    // one more than the real id is a different job: exactness matters
    assert.equal((await api(`/v1/jobs/${BigInt(id) + 1n}`)).status, 404);
  });
});
