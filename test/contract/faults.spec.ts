/**
 * Contract cases that need the broker to misbehave: it goes away mid-stream and comes back,
 * sends garbage or an oversized frame, refuses the handshake, or answers too slowly. They need the
 * test broker's fault hooks and skip (saying why) against a real broker.
 */
import { strict as assert } from "node:assert";
import { FluxClient, FluxProtocolError, FluxTimeoutError, FluxUnavailableError } from "../../sidecar/flux";
import type { TestBroker } from "../test-broker";
import { jobspec, useBroker, waitForClean } from "./helpers";

describe("contract: broker faults", function () {
  this.timeout(30000);
  const ctx = useBroker({ size: 4 });
  let broker: TestBroker;

  let reasonShown = false;
  beforeEach(function () {
    if (!ctx.broker.testBroker) {
      if (!reasonShown) console.log("      skipped: these need the test broker's fault hooks; a real broker cannot be stopped or made to send garbage from inside the suite");
      reasonShown = true;
      this.skip();
    }
    broker = ctx.broker.testBroker;
  });

  afterEach(async () => {
    if (!broker) return;
    broker.clearFaults();
    await broker.resume();
    await reconnected(ctx.client);
  });

  it("ends an output stream with FluxUnavailableError when the broker goes away, and reconnects once it is back", async () => {
    const id = await ctx.client.submit(jobspec(["sh", "-c", "echo before; sleep 1; echo after"]));
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of ctx.client.output(id, { follow: true })) {
          if (e.kind !== "data" || !e.data) continue;
          seen.push(e.data);
          await broker.suspend(); // the broker dies while the stream is open
        }
      })(),
      FluxUnavailableError,
    );
    assert.deepEqual(seen, ["before\n"]);
    await assert.rejects(ctx.client.ping(), FluxUnavailableError, "calls fail fast while it is away");
    await broker.resume();
    assert.equal((await reconnected(ctx.client)).rank, 0, "calls succeed again once the broker is back (after the bounded backoff)");
    await waitForClean(ctx.client, id); // the instance kept the job, like a real broker's KVS
    const data: string[] = [];
    for await (const e of ctx.client.output(id)) if (e.kind === "data" && e.data) data.push(e.data);
    assert.deepEqual(data, ["before\n", "after\n"]);
  });

  it("fails a pending call fast when the connection drops", async () => {
    broker.setReplyDelay(5000);
    const started = Date.now();
    const pending = ctx.client.getAttr("size");
    setTimeout(() => broker.dropConnections(), 50);
    await assert.rejects(pending, FluxUnavailableError);
    assert.ok(Date.now() - started < 3000, "rejected well before the reply would have come");
  });

  it("closes the connection on garbage from the broker with FluxProtocolError, then recovers", async () => {
    broker.interceptNext("broker.ping", "garbage");
    await assert.rejects(ctx.client.ping(), FluxProtocolError);
    assert.equal((await ctx.client.ping()).rank, 0);
  });

  it("ends an open stream with FluxProtocolError when garbage arrives in the middle of it", async () => {
    const id = await ctx.client.submit(jobspec(["sh", "-c", "echo started; sleep 30"]));
    try {
      await assert.rejects(
        (async () => {
          for await (const e of ctx.client.output(id, { follow: true })) if (e.kind === "data" && e.data) broker.sendGarbage();
        })(),
        FluxProtocolError,
      );
    } finally {
      await reconnected(ctx.client);
      await ctx.client.cancel(id);
    }
  });

  it("treats an oversized frame as a protocol error, not an allocation", async () => {
    broker.interceptNext("attr.get", "oversized");
    await assert.rejects(ctx.client.getAttr("size"), FluxProtocolError);
    assert.equal(await ctx.client.getAttr("size"), "4");
  });

  it("times out a call the broker does not answer in time", async () => {
    const impatient = new FluxClient({ uri: ctx.broker.uri, timeoutMs: 200 });
    try {
      await impatient.ping();
      broker.setReplyDelay(1500);
      await assert.rejects(impatient.getAttr("size"), FluxTimeoutError);
    } finally {
      await impatient.close();
    }
  });

  it("reports a refused handshake as FluxUnavailableError", async () => {
    const fresh = new FluxClient({ uri: ctx.broker.uri });
    try {
      broker.rejectNextConnection(1);
      await assert.rejects(fresh.ping(), FluxUnavailableError);
    } finally {
      await fresh.close();
    }
  });
});

/** Pings until the client is connected again (its reconnect backoff is bounded), at most ~5 s. */
/** Pings until it succeeds: garbage sent to every connection may also close the idle shared one. */
async function reconnected(client: FluxClient) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.ping();
    } catch (err) {
      if (!(err instanceof FluxUnavailableError || err instanceof FluxProtocolError) || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
