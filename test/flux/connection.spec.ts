import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { MessageFlags } from "../../sidecar/flux/codec";
import { FluxClient } from "../../sidecar/flux/client";
import {
  FluxBacklogError,
  FluxError,
  FluxMessageTooLargeError,
  FluxProtocolError,
  FluxTimeoutError,
  FluxUnavailableError,
} from "../../sidecar/flux/errors";
import { RpcClient } from "../../sidecar/flux/rpc";
import { decodeJsonPayload } from "../../sidecar/flux/codec";
import { FakeBroker } from "./fake-broker";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

describe("flux connection and RPC", function () {
  this.timeout(5000);
  let broker: FakeBroker;
  let rpc: RpcClient;

  beforeEach(async () => {
    broker = await FakeBroker.start();
    rpc = new RpcClient(broker.socketPath, { timeoutMs: 2000, backoff: { initialMs: 50, maxMs: 200 } });
  });

  afterEach(async () => {
    rpc.close();
    await broker.dispose();
  });

  it("sends requests as libflux does: unknown userid, no role, nodeid any, JSON + NUL", async () => {
    broker.onRequest = ({ msg, socket }) => broker.respond(socket, msg, { value: "4", flags: 1 });
    assert.deepEqual(await rpc.call("attr.get", { name: "size" }), { value: "4", flags: 1 });
    const [req] = broker.requests;
    assert.equal(req.flags, MessageFlags.TOPIC | MessageFlags.PAYLOAD);
    assert.equal(req.userid, 0xffffffff);
    assert.equal(req.rolemask, 0);
    assert.equal(req.aux1, 0xffffffff);
    assert.ok(req.aux2 >= 1);
    assert.equal(req.payload!.toString(), '{"name":"size"}\0');
  });

  it("turns error replies into FluxError with errno, code and the broker's message", async () => {
    broker.onRequest = ({ msg, socket }) =>
      msg.topic === "nosuch.thing"
        ? broker.respond(socket, msg, undefined, { errnum: 38, errmsg: "No service matching nosuch.thing is registered" })
        : broker.respond(socket, msg, undefined, { errnum: 2 });
    await assert.rejects(rpc.call("nosuch.thing", {}), (err: unknown) => {
      assert.ok(err instanceof FluxError);
      assert.equal(err.errno, 38);
      assert.equal(err.code, "ENOSYS");
      assert.equal(err.topic, "nosuch.thing");
      assert.equal(err.message, "No service matching nosuch.thing is registered");
      return true;
    });
    await assert.rejects(rpc.call("attr.get", { name: "nope" }), { name: "FluxError", code: "ENOENT", message: "No such file or directory" });
  });

  it("pipelines: many calls are in flight at once and replies are routed by matchtag in any order", async () => {
    const N = 300;
    const held: Array<() => void> = [];
    broker.onRequest = ({ msg, socket }) => {
      held.push(() => broker.respond(socket, msg, { echo: decodeJsonPayload(msg.payload).n }));
      if (held.length === N) for (const reply of held.reverse()) reply(); // answer only once all arrived
    };
    const results = await within(3000, Promise.all(Array.from({ length: N }, (_, n) => rpc.call("svc.echo", { n }))));
    assert.deepEqual(results.map((r) => r.echo), Array.from({ length: N }, (_, n) => n));
    assert.equal(new Set(broker.requests.map((m) => m.aux2)).size, N, "every in-flight call has its own matchtag");
    assert.equal(rpc.pendingCount, 0);
  });

  it("times a call out with FluxTimeoutError and keeps working (late reply is dropped)", async () => {
    let late: (() => void) | undefined;
    broker.onRequest = ({ msg, socket }) => {
      if (msg.topic === "svc.slow") late = () => broker.respond(socket, msg, { late: true });
      else broker.respond(socket, msg, { ok: true });
    };
    await assert.rejects(rpc.call("svc.slow", {}, { timeoutMs: 100 }), (err: unknown) => err instanceof FluxTimeoutError && /svc.slow.*100 ms/.test(err.message));
    late!();
    assert.deepEqual(await rpc.call("svc.fast", {}), { ok: true });
    assert.equal(rpc.pendingCount, 0, "the timed-out tag was released by its late reply");
  });

  it("streams responses until ENODATA", async () => {
    broker.onRequest = ({ msg, socket }) => {
      assert.ok(msg.flags & MessageFlags.STREAMING);
      for (let i = 0; i < 3; i++) broker.respond(socket, msg, { i });
      broker.respond(socket, msg, undefined, { errnum: 61 });
    };
    const got: unknown[] = [];
    for await (const r of rpc.stream("svc.watch", {})) got.push(r.i);
    assert.deepEqual(got, [0, 1, 2]);
    assert.equal(rpc.pendingCount, 0);
  });

  it("throws a stream's non-ENODATA error after the data before it", async () => {
    broker.onRequest = ({ msg, socket }) => {
      broker.respond(socket, msg, { i: 0 });
      broker.respond(socket, msg, undefined, { errnum: 2, errmsg: "no such key" });
    };
    const got: unknown[] = [];
    await assert.rejects(async () => {
      for await (const r of rpc.stream("svc.watch", {})) got.push(r.i);
    }, { name: "FluxError", errno: 2, message: "no such key" });
    assert.deepEqual(got, [0]);
  });

  it("breaking out of for-await sends <topic>-cancel with the matchtag and NORESPONSE, then frees the tag", async () => {
    broker.onRequest = ({ msg, socket }) => {
      if (msg.topic === "job-info.eventlog-watch") {
        broker.respond(socket, msg, { event: "one" });
        broker.respond(socket, msg, { event: "two" });
      } else if (msg.topic === "job-info.eventlog-watch-cancel") {
        const watch = broker.requests.find((m) => m.topic === "job-info.eventlog-watch")!;
        broker.respond(socket, watch, undefined, { errnum: 61 });
      }
    };
    for await (const r of rpc.stream("job-info.eventlog-watch", { id: 1 })) {
      assert.equal(r.event, "one");
      break;
    }
    await within(1000, (async () => { while (rpc.pendingCount > 0) await sleep(5); })());
    const [watch, cancel] = broker.requests;
    assert.equal(cancel.topic, "job-info.eventlog-watch-cancel");
    assert.equal(cancel.flags & MessageFlags.NORESPONSE, MessageFlags.NORESPONSE);
    assert.equal(cancel.aux2, 0);
    assert.deepEqual(decodeJsonPayload(cancel.payload), { matchtag: watch.aux2 });
  });

  it("an AbortSignal ends a stream and cancels it on the broker", async () => {
    broker.onRequest = ({ msg, socket }) => {
      if (msg.topic === "svc.watch") broker.respond(socket, msg, { i: 0 });
    };
    const controller = new AbortController();
    const got: unknown[] = [];
    await assert.rejects(async () => {
      for await (const r of rpc.stream("svc.watch", {}, { signal: controller.signal })) {
        got.push(r.i);
        setTimeout(() => controller.abort(), 20);
      }
    }, { name: "AbortError" });
    assert.deepEqual(got, [0]);
    await within(1000, (async () => { while (!broker.requests.some((m) => m.topic === "svc.watch-cancel")) await sleep(5); })());
  });

  it("fails every pending call and stream fast when the broker goes away", async () => {
    broker.onRequest = ({ msg, socket }) => {
      if (msg.topic === "svc.watch") broker.respond(socket, msg, { i: 0 });
    };
    const call = rpc.call("svc.never", {});
    const stream = (async () => {
      for await (const _ of rpc.stream("svc.watch", {})) void _;
    })();
    await within(1000, (async () => { while (broker.requests.length < 2) await sleep(5); })());
    const started = Date.now();
    await broker.stop();
    await assert.rejects(within(1000, call), (err: unknown) => err instanceof FluxUnavailableError && /closed the connection/.test(err.message));
    await assert.rejects(within(1000, stream), FluxUnavailableError);
    assert.ok(Date.now() - started < 1000);
    assert.equal(rpc.pendingCount, 0);
    // the broker is gone: the next call fails fast too, naming the socket
    await assert.rejects(within(1000, rpc.call("svc.x", {})), (err: unknown) => err instanceof FluxUnavailableError && err.message.includes(broker.socketPath));
  });

  it("closes the connection on garbage with FluxProtocolError, without crashing, and reconnects", async () => {
    broker.onRequest = ({ msg, socket }) => {
      if (msg.topic === "svc.garbage") socket.write(Buffer.from("this is not a flux frame at all"));
      else if (msg.topic === "svc.ok") broker.respond(socket, msg, { ok: true });
    };
    const other = rpc.call("svc.other-pending", {}); // never answered; must fail with the same cause
    await assert.rejects(rpc.call("svc.garbage", {}), (err: unknown) => err instanceof FluxProtocolError && /malformed message .* bad frame magic/.test(err.message));
    await assert.rejects(other, FluxProtocolError);
    assert.deepEqual(await rpc.call("svc.ok", {}), { ok: true }); // a fresh connection
  });

  it("closes on a well-framed but invalid message (bad proto frame)", async () => {
    broker.onRequest = ({ socket }) => socket.write(Buffer.from("1200eeff00000003028e01", "hex"));
    await assert.rejects(rpc.call("svc.x", {}), (err: unknown) => err instanceof FluxProtocolError && /proto frame is 2 bytes/.test(err.message));
  });

  it("reports a refused handshake with the errno", async () => {
    broker.handshake = 1;
    await assert.rejects(rpc.call("svc.x", {}), (err: unknown) => err instanceof FluxUnavailableError && /refused the connection: EPERM/.test(err.message));
  });

  it("gives up on a broker that accepts but never completes the handshake", async () => {
    broker.handshake = "silent";
    const client = new RpcClient(broker.socketPath, { connectTimeoutMs: 100 });
    try {
      await assert.rejects(within(1000, client.call("svc.x", {})), (err: unknown) => err instanceof FluxUnavailableError && /no handshake within 100 ms/.test(err.message));
    } finally {
      client.close();
    }
  });

  it("fails fast while the socket is missing, then reconnects after the backoff once it is back", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flux-fake-"));
    try {
      const socketPath = path.join(dir, "local");
      const client = new RpcClient(socketPath, { backoff: { initialMs: 100, maxMs: 400 } });
      await assert.rejects(client.call("svc.x", {}), (err: unknown) => err instanceof FluxUnavailableError && /socket does not exist \(ENOENT\)/.test(err.message));
      const t0 = Date.now();
      await assert.rejects(client.call("svc.x", {}), /next attempt in \d+ ms/);
      assert.ok(Date.now() - t0 < 50, "gated calls do not wait");
      const back = await FakeBroker.start(dir);
      back.onRequest = ({ msg, socket }) => back.respond(socket, msg, { ok: true });
      await sleep(150);
      assert.deepEqual(await client.call("svc.x", {}), { ok: true });
      client.close();
      await back.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("close() fails pending calls and later calls", async () => {
    const pending = rpc.call("svc.never", {});
    await within(1000, (async () => { while (broker.requests.length < 1) await sleep(5); })());
    rpc.close();
    await assert.rejects(pending, /is closed/);
    await assert.rejects(rpc.call("svc.x", {}), /is closed/);
  });

  describe("bounded replies", () => {
    const KiB = 1024;
    /** Polls (bounded) until `done` holds: waiting for socket buffers to fill, never a timing assertion. */
    async function until(what: string, done: () => boolean): Promise<void> {
      for (let i = 0; i < 400 && !done(); i++) await sleep(5);
      assert.ok(done(), `never happened: ${what}`);
    }

    it("a reply over maxMessageBytes fails only its own call; the connection and the other calls go on", async () => {
      const limited = new RpcClient(broker.socketPath, { maxMessageBytes: 64 * KiB });
      try {
        broker.onRequest = ({ msg, socket }) => {
          if (msg.topic === "svc.big") broker.respond(socket, msg, { data: "x".repeat(1024 * KiB) });
          else broker.respond(socket, msg, { n: decodeJsonPayload(msg.payload).n });
        };
        const before = limited.call("svc.small", { n: 1 });
        const big = limited.call("svc.big", {});
        const after = limited.call("svc.small", { n: 2 });
        await assert.rejects(big, (err: unknown) => {
          assert.ok(err instanceof FluxMessageTooLargeError);
          assert.equal(err.topic, "svc.big");
          assert.equal(err.limit, 64 * KiB);
          assert.ok(err.size > 1024 * KiB);
          assert.match(err.message, /svc\.big: the broker's reply is \d+ bytes, over the 65536-byte message limit/);
          return true;
        });
        assert.deepEqual([await before, await after], [{ n: 1 }, { n: 2 }]);
        assert.deepEqual(await limited.call("svc.small", { n: 3 }), { n: 3 });
        assert.equal(broker.sockets.size, 1, "the same connection throughout");
        assert.equal(limited.pendingCount, 0);
      } finally {
        limited.close();
      }
    });

    it("an oversized reply mid-stream ends that stream after the data before it, and cancels it", async () => {
      const limited = new RpcClient(broker.socketPath, { maxMessageBytes: 64 * KiB });
      try {
        broker.onRequest = ({ msg, socket }) => {
          if (msg.topic === "svc.watch") {
            broker.respond(socket, msg, { i: 0 });
            broker.respond(socket, msg, { i: 1, data: "x".repeat(256 * KiB) });
            broker.respond(socket, msg, { i: 2 });
          } else if (msg.topic === "svc.watch-cancel") {
            broker.respond(socket, broker.requests.find((m) => m.topic === "svc.watch")!, undefined, { errnum: 61 });
          } else broker.respond(socket, msg, { ok: true });
        };
        const got: unknown[] = [];
        await assert.rejects(async () => {
          for await (const r of limited.stream("svc.watch", {})) got.push(r.i);
        }, FluxMessageTooLargeError);
        assert.deepEqual(got, [0]);
        await until("the cancel reached the broker and its final reply freed the tag", () => limited.pendingCount === 0 && broker.requests.some((m) => m.topic === "svc.watch-cancel"));
        assert.deepEqual(await limited.call("svc.ok", {}), { ok: true });
      } finally {
        limited.close();
      }
    });

    /** A stream of `count` replies of `bytes` each, then ENODATA; the broker writes them all at once. */
    function floodStream(count: number, bytes: number): void {
      broker.onRequest = ({ msg, socket }) => {
        if (msg.topic !== "svc.watch") return;
        for (let i = 0; i < count; i++) broker.respond(socket, msg, { i, data: "y".repeat(bytes) });
        broker.respond(socket, msg, undefined, { errnum: 61 });
      };
    }

    it("pauseReading: a stalled consumer leaves the replies in the broker, not in the client, and gets all of them later", async () => {
      const paced = new RpcClient(broker.socketPath, { pauseReading: true, streamBufferBytes: 64 * KiB });
      try {
        floodStream(2000, 4 * KiB); // 8 MiB
        const stream = paced.stream("svc.watch", {});
        assert.equal((await stream.next()).value?.i, 0);
        // The consumer stalls: the broker's socket must back up with what the client did not read.
        const brokerSide = () => [...broker.sockets][0];
        await until("the broker holds megabytes it cannot send", () => (brokerSide()?.writableLength ?? 0) > 4 * 1024 * KiB);
        await sleep(50);
        assert.ok(paced.bufferedStreamBytes <= 64 * KiB + 128 * KiB, `the client holds ${paced.bufferedStreamBytes} bytes`);
        let next = 1;
        for await (const r of stream) assert.equal(r.i, next++);
        assert.equal(next, 2000, "every reply arrived, in order");
        assert.equal(paced.bufferedStreamBytes, 0);
      } finally {
        paced.close();
      }
    });

    it("without pauseReading, a stream whose consumer falls behind past its buffer fails with FluxBacklogError and is cancelled", async () => {
      const bounded = new RpcClient(broker.socketPath, { streamBufferBytes: 64 * KiB });
      try {
        floodStream(500, 4 * KiB);
        const stream = bounded.stream("svc.watch", {});
        assert.equal((await stream.next()).value?.i, 0);
        await until("the cancel reached the broker", () => broker.requests.some((m) => m.topic === "svc.watch-cancel"));
        assert.equal(bounded.bufferedStreamBytes, 0, "what it held was dropped");
        await assert.rejects(stream.next(), (err: unknown) => err instanceof FluxBacklogError && /fell behind by more than the 65536-byte stream buffer/.test(err.message));
      } finally {
        bounded.close();
      }
    });
  });

  describe("FluxClient over the fake endpoint", () => {
    it("follows output on a connection of its own, closed when the stream ends; calls keep the shared one", async () => {
      const entry = (name: string, context: object) => JSON.stringify({ timestamp: 1, name, context }) + "\n";
      broker.onRequest = ({ msg, socket }) => {
        if (msg.topic === "attr.get") return broker.respond(socket, msg, { value: "4", flags: 1 });
        if (msg.topic !== "job-info.eventlog-watch") return;
        const { path: key } = decodeJsonPayload(msg.payload);
        if (key === "guest.exec.eventlog") broker.respond(socket, msg, { event: entry("shell.init", {}) });
        else {
          broker.respond(socket, msg, { event: entry("data", { stream: "stdout", rank: "0", data: "hello\n" }) });
          broker.respond(socket, msg, undefined, { errnum: 61 });
        }
      };
      const client = new FluxClient({ uri: broker.uri });
      try {
        assert.equal(await client.getAttr("size"), "4");
        const seen: string[] = [];
        for await (const e of client.output(1n, { follow: true })) {
          if (e.kind === "data") seen.push(e.data);
          assert.equal(client.exclusiveConnections, 1);
          assert.equal(broker.sockets.size, 2, "the shared connection and the stream's own");
        }
        assert.deepEqual(seen, ["hello\n"]);
        assert.equal(client.exclusiveConnections, 0);
        await within(1000, (async () => { while (broker.sockets.size > 1) await sleep(5); })());
        assert.equal(await client.getAttr("size"), "4");
      } finally {
        await client.close();
      }
    });

    it("parses FLUX_URI and rejects other schemes", () => {
      assert.equal(new FluxClient({ uri: "local:///run/flux/local" }).socketPath, "/run/flux/local");
      assert.equal(new FluxClient({ uri: "local:// /tmp/x/local\t" }).socketPath, "/tmp/x/local");
      assert.throws(() => new FluxClient({ uri: "ssh://host/run/flux/local" }), /unsupported FLUX_URI scheme "ssh"/);
      assert.throws(() => new FluxClient({ uri: "/run/flux/local" }), /expected local:/);
      assert.throws(() => new FluxClient({ uri: `local:///${"x".repeat(120)}` }), /longer than 107 bytes/);
    });

    it("defaults to $FLUX_URI, then to local:///run/flux/local", () => {
      const saved = process.env.FLUX_URI;
      try {
        process.env.FLUX_URI = "local:///tmp/env/local";
        assert.equal(new FluxClient().socketPath, "/tmp/env/local");
        delete process.env.FLUX_URI;
        assert.equal(new FluxClient().uri, "local:///run/flux/local");
      } finally {
        if (saved === undefined) delete process.env.FLUX_URI;
        else process.env.FLUX_URI = saved;
      }
    });

    it("submits with the none envelope as the instance owner, the header userid set to match", async () => {
      broker.onRequest = ({ msg, socket }) => {
        const body = decodeJsonPayload(msg.payload);
        if (msg.topic === "attr.get") broker.respond(socket, msg, { value: body.name === "security.owner" ? "4242" : "?", flags: 1 });
        else if (msg.topic === "job-ingest.submit") broker.respond(socket, msg, { id: 18446744073709551615n });
      };
      const client = new FluxClient({ uri: broker.uri });
      try {
        const id = await client.submit({ resources: [], tasks: [], attributes: { system: { duration: 0 } }, version: 1 }, { urgency: 31 });
        assert.equal(id, 18446744073709551615n);
        const submit = broker.requests.find((m) => m.topic === "job-ingest.submit")!;
        assert.equal(submit.userid, 4242);
        const body = decodeJsonPayload(submit.payload);
        assert.equal(body.urgency, 31);
        assert.equal(body.flags, 0);
        const header = Buffer.from(String(body.J).split(".")[0], "base64").toString();
        assert.equal(header, "version\0i1\0userid\0i4242\0mechanism\0snone\0");
      } finally {
        await client.close();
      }
    });

    it("asks resource.sched-status on rank 0 and falls back to sched.resource-status on ENOSYS", async () => {
      const empty = { version: 1, execution: { R_lite: [], nodelist: [""] } };
      broker.onRequest = ({ msg, socket }) => {
        if (msg.topic === "resource.sched-status") broker.respond(socket, msg, undefined, { errnum: 38 });
        else broker.respond(socket, msg, { all: { version: 1, execution: { R_lite: [{ rank: "0", children: { core: "0-1" } }], nodelist: ["n0"] } }, down: empty, allocated: empty });
      };
      const client = new FluxClient({ uri: broker.uri });
      try {
        const summary = await client.resources();
        assert.deepEqual(summary.up, ["n0"]);
        assert.deepEqual(broker.requests.map((m) => [m.topic, m.aux1, m.flags & MessageFlags.PAYLOAD]), [
          ["resource.sched-status", 0, 0],
          ["sched.resource-status", 0, 0],
        ]);
      } finally {
        await client.close();
      }
    });

    it("distinguishes unknown and inactive jobs on cancel", async () => {
      broker.onRequest = ({ msg, socket }) => {
        const { id } = decodeJsonPayload(msg.payload);
        broker.respond(socket, msg, undefined, { errnum: 2, errmsg: id === 1 ? "unknown job id" : "job is inactive" });
      };
      const client = new FluxClient({ uri: broker.uri });
      try {
        await assert.rejects(client.cancel(1n), { name: "UnknownJobError", errno: 2 });
        await assert.rejects(client.cancel(2n), { name: "JobInactiveError", errno: 2 });
      } finally {
        await client.close();
      }
    });
  });
});
