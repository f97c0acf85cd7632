/**
 * The Flux proxy against the test broker: the project's own Flux client through the local socket
 * of `flux-restful proxy` (client/src/proxy.ts) and the sidecar's /v1/flux/proxy.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import WebSocket from "ws";
import { main } from "flux-restful-client/cli";
import { listenProxy, type ProxyListener } from "../../client/src/proxy";
import { FluxClient, buildJobspec } from "../../sidecar/flux";
import { MessageReader, encodeMessage, frameMessage, MessageType, MessageFlags, NODEID_ANY, USERID_UNKNOWN, ROLE_NONE, encodeJsonPayload } from "../../sidecar/flux/codec";
import { ConfigError, loadConfig } from "../../sidecar/config";
import { DEFAULT_DENIED_TOPICS, TopicPolicy, deniedResponse } from "../../sidecar/proxy/policy";
import { RawClient } from "../test-broker/raw-client";
import { startBroker } from "../support/broker";
import { startTestSidecar, type Broker, type Sidecar } from "../sidecar/support";

const PROXY_ENV = { FLUX_REQUIRE_AUTH: "true", FLUX_PROXY: "true", FLUX_PROXY_MAX_CONNECTIONS: "6", FLUX_MAX_MESSAGE_BYTES: String(64 * 1024) };

function basic(s: Sidecar): string {
  return `Basic ${Buffer.from(`${s.user}:${s.token}`).toString("base64")}`;
}

/** The status an upgrade request gets (0 = it was upgraded). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws") + "/v1/flux/proxy", { headers });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? -1);
    });
    ws.once("open", () => {
      ws.close();
      resolve(0);
    });
    ws.once("error", reject);
  });
}

/** The sidecar has logged the close of every proxied connection it opened (its places are free). */
function allClosed(s: Sidecar): () => boolean {
  const count = (what: string) => s.logLines.filter((l) => l.includes(what)).length;
  return () => count("flux proxy connection opened") === count("flux proxy connection closed");
}

/** Waits for `check` to hold, up to a few seconds (the load of a busy CI machine included). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

describe("flux proxy", function () {
  let broker: Broker;
  let sidecar: Sidecar;
  let proxy: ProxyListener;
  const notices: string[] = [];

  before(async () => {
    broker = await startBroker({ kind: "test", size: 2 });
    sidecar = await startTestSidecar(broker, PROXY_ENV);
    proxy = await listenProxy({ host: sidecar.url, user: sidecar.user, token: sidecar.token, onNotice: (t) => notices.push(t) });
  });
  after(async () => {
    await proxy?.close();
    await sidecar?.close();
    await broker?.stop();
  });

  it("runs the project's Flux client through the local socket: submit, list, follow the eventlog and output, cancel", async () => {
    assert.match(proxy.uri, /^local:\/\/\/.+\/local$/);
    const client = new FluxClient({ uri: proxy.uri });
    try {
      const id = await client.submit(buildJobspec({ command: ["echo", "through the proxy"] }));
      const listed = await client.listJobs();
      assert.ok(listed.some((job) => job.id === id), "the submitted job is listed");
      const events: string[] = [];
      for await (const entry of client.eventlog(id, { follow: true })) {
        events.push(entry.name);
        if (entry.name === "clean") break;
      }
      assert.ok(events.includes("submit") && events.includes("finish"), `eventlog: ${events.join(",")}`);
      const output: string[] = [];
      for await (const event of client.output(id, { follow: true })) if (event.kind === "data") output.push(event.data);
      assert.match(output.join(""), /through the proxy/);

      const sleeper = await client.submit(buildJobspec({ command: ["sleep", "300"] }));
      await client.cancel(sleeper, "test");
      for await (const entry of client.eventlog(sleeper, { follow: true })) {
        if (entry.name === "exception") {
          assert.equal((entry.context as { type?: string }).type, "cancel");
          break;
        }
      }
    } finally {
      await client.close();
    }
  });

  it("flux-restful proxy -- CMD runs CMD with FLUX_URI of its socket and exits with its status", async () => {
    // The child reads the local connector's handshake byte through FLUX_URI and exits 3 when it is 0.
    const child = `const s = require("net").createConnection(process.env.FLUX_URI.slice("local://".length));
      s.once("data", (b) => { console.log(process.env.FLUX_URI); process.exit(b[0] === 0 ? 3 : 4); });`;
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: { ...process.env, FLUX_USER: sidecar.user, FLUX_TOKEN: sidecar.token } };
    const code = await main(["--host", sidecar.url, "proxy", "--", process.execPath, "-e", child], io);
    assert.equal(code, 3, err.join(""));
    const bad = await main(["--host", sidecar.url, "--token", "wrong", "proxy", "--", process.execPath, "-e", child], { ...io, stderr: { write: (t: string) => err.push(t) } });
    assert.equal(bad, 4);
    assert.match(err.join(""), /proxy: the sidecar refused the proxy connection: HTTP 401/);
  });

  it("answers a denied topic with EPERM at once, and the connection goes on", async () => {
    const raw = await RawClient.connect(proxy.socketPath);
    try {
      for (const topic of ["shutdown.start", "module.load", "attr.set"]) {
        assert.ok(DEFAULT_DENIED_TOPICS.includes(topic));
        const reply = await raw.rpc(topic, {});
        assert.equal(reply.errnum, 1, `${topic}: errnum`);
        assert.equal(reply.msg.topic, topic);
        assert.match(reply.text, /not allowed through the flux-restful proxy/);
      }
      const ping = await raw.rpc("broker.ping", { seq: 1, pad: "", route: "" });
      assert.equal(ping.errnum, 0);
    } finally {
      raw.close();
    }
    await eventually(() => sidecar.logLines.some((l) => l.includes("denied topic refused") && l.includes('"topic":"shutdown.start"')), "the denial is logged");
  });

  it("keeps clients apart: the same matchtags on two connections get their own answers", async () => {
    const a = await RawClient.connect(proxy.socketPath);
    const b = await RawClient.connect(proxy.socketPath);
    try {
      // Both use matchtag 1: each must get only the answer to its own request.
      a.send("broker.ping", { seq: 1, pad: "a", route: "" }, { matchtag: 1 });
      b.send("attr.get", { name: "size" }, { matchtag: 1 });
      const [fromA] = await a.collect(1, 1);
      const [fromB] = await b.collect(1, 1);
      assert.equal(fromA.msg.topic, "broker.ping");
      assert.equal(fromB.msg.topic, "attr.get");
      assert.match(fromB.text, /"value":\s*"2"/);
    } finally {
      a.close();
      b.close();
    }
  });

  it("logs each connection with its user and byte counts, never a payload", async () => {
    const raw = await RawClient.connect(proxy.socketPath);
    await raw.rpc("attr.get", { name: "secret-marker-attr" });
    raw.close();
    await eventually(() => sidecar.logLines.some((l) => l.includes("flux proxy connection closed")), "a close line");
    const closed = sidecar.logLines.filter((l) => l.includes("flux proxy connection closed")).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(closed.every((l) => l.user === sidecar.user && typeof l.bytesIn === "number" && typeof l.bytesOut === "number"));
    assert.ok(closed.some((l) => (l.bytesIn as number) > 0 && (l.bytesOut as number) > 0));
    assert.ok(!sidecar.logLines.some((l) => l.includes("secret-marker-attr")), "no payload in the log");
  });

  it("refuses an upgrade without credentials (401), with bad ones (401), and on another path (404)", async () => {
    assert.equal(await upgradeStatus(sidecar.url), 401);
    assert.equal(await upgradeStatus(sidecar.url, { authorization: `Basic ${Buffer.from(`${sidecar.user}:wrong`).toString("base64")}` }), 401);
    assert.equal(await upgradeStatus(sidecar.url, { authorization: basic(sidecar) }), 0);
    const other = await new Promise<number>((resolve) => {
      const ws = new WebSocket(sidecar.url.replace(/^http/, "ws") + "/v1/flux/proxy/x", { headers: { authorization: basic(sidecar) } });
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? -1));
      ws.once("error", () => resolve(-1));
    });
    assert.equal(other, 404);
  });

  it("serves other requests that carry an Upgrade header (curl --http2 sends h2c) as before", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(`${sidecar.url}/v1/jobs`, { headers: { authorization: basic(sidecar), connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAARAAAAAAAIAAAAA" } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? -1, body: text }));
      });
      req.on("error", reject);
    });
    assert.equal(status, 200, body);
    const listing = await fetch(`${sidecar.url}/v1/jobs`, { headers: { authorization: basic(sidecar) } });
    assert.deepEqual(JSON.parse(body), await listing.json(), "the same answer as without the Upgrade header");
  });

  it("gives a local client a clear error when the sidecar refuses it", async () => {
    const badProxy = await listenProxy({ host: sidecar.url, user: sidecar.user, token: "wrong", onNotice: (t) => notices.push(t) });
    try {
      const client = new FluxClient({ uri: badProxy.uri, backoff: { initialMs: 10, maxMs: 10 } });
      await assert.rejects(client.ping(), /EPERM|refused|not the instance owner/);
      await client.close();
      assert.ok(notices.some((n) => /HTTP 401/.test(n)), notices.join("\n"));
    } finally {
      await badProxy.close();
    }
  });

  it("answers new local clients with an error when the endpoint is unreachable", async () => {
    const dead = await listenProxy({ host: "http://127.0.0.1:1", user: "u", token: "t", onNotice: (t) => notices.push(t) });
    try {
      const raw = net.createConnection(dead.socketPath);
      const [first] = (await once(raw, "data")) as [Buffer];
      assert.notEqual(first[0], 0, "a nonzero errno as the handshake byte");
      await once(raw, "close");
      assert.ok(notices.some((n) => /cannot reach the sidecar/.test(n)));
    } finally {
      await dead.close();
    }
  });

  it("closes only the connection that sends a message over FLUX_MAX_MESSAGE_BYTES", async () => {
    const big = await RawClient.connect(proxy.socketPath);
    const small = await RawClient.connect(proxy.socketPath);
    try {
      const closed = once((big as unknown as { socket: net.Socket }).socket, "close");
      big.send("attr.get", { name: "x".repeat(100 * 1024) });
      await closed;
      const ping = await small.rpc("broker.ping", { seq: 1, pad: "", route: "" });
      assert.equal(ping.errnum, 0);
    } finally {
      big.close();
      small.close();
    }
    await eventually(
      () => sidecar.logLines.some((l) => l.includes("flux proxy connection closed") && l.includes("Max payload size exceeded")),
      "the oversized close is logged",
    );
  });

  it("closes proxied connections when the broker closes them", async () => {
    const ws = new WebSocket(sidecar.url.replace(/^http/, "ws") + "/v1/flux/proxy", { headers: { authorization: basic(sidecar) } });
    await once(ws, "open");
    // A request straight over the WebSocket, in the project's framing, is answered.
    const reader = new MessageReader();
    const request = { type: MessageType.REQUEST, flags: MessageFlags.TOPIC | MessageFlags.PAYLOAD, userid: USERID_UNKNOWN, rolemask: ROLE_NONE, aux1: NODEID_ANY, aux2: 7, topic: "broker.ping", payload: encodeJsonPayload({ seq: 1, pad: "", route: "" }) };
    ws.send(frameMessage(encodeMessage(request)));
    const [data] = (await once(ws, "message")) as [Buffer];
    const [reply] = reader.push(data);
    assert.equal(reply.type, MessageType.RESPONSE);
    assert.equal(reply.aux2, 7);
    const closed = once(ws, "close");
    broker.testBroker!.dropConnections();
    await closed;
  });
});

// Its own sidecar: the caps count every connection of the server, so nothing of the tests above
// (their closes still on the way on a busy machine) may be counted here.
describe("flux proxy: bounds", function () {
  let broker: Broker;
  let sidecar: Sidecar;
  let proxy: ProxyListener;

  before(async () => {
    broker = await startBroker({ kind: "test", size: 2 });
    sidecar = await startTestSidecar(broker, PROXY_ENV);
    proxy = await listenProxy({ host: sidecar.url, user: sidecar.user, token: sidecar.token });
  });
  after(async () => {
    await proxy?.close();
    await sidecar?.close();
    await broker?.stop();
  });

  it("refuses connections past FLUX_PROXY_MAX_CONNECTIONS (429) and frees their places when they close", async () => {
    await eventually(() => proxy.connections === 0, "earlier connections closed");
    await eventually(allClosed(sidecar), "the sidecar has freed the places of earlier connections");
    const held: WebSocket[] = [];
    const url = sidecar.url.replace(/^http/, "ws") + "/v1/flux/proxy";
    for (let i = 0; i < 6; i++) {
      const ws = new WebSocket(url, { headers: { authorization: basic(sidecar) } });
      await once(ws, "open");
      held.push(ws);
    }
    assert.equal(await upgradeStatus(sidecar.url, { authorization: basic(sidecar) }), 429);
    for (const ws of held) ws.close();
    await Promise.all(held.map((ws) => once(ws, "close")));
    // The sidecar frees a place when it sees the close: allow it a moment on a busy machine.
    let status = -1;
    for (let i = 0; i < 100 && status !== 0; i++) {
      status = await upgradeStatus(sidecar.url, { authorization: basic(sidecar) });
      if (status !== 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 0, "a place is free again");
    await eventually(allClosed(sidecar), "every place is free again");
  });

  it("takes a flood of requests from a client that reads nothing: every answer arrives, in order, once it reads; others are served meanwhile", async () => {
    const ws = new WebSocket(sidecar.url.replace(/^http/, "ws") + "/v1/flux/proxy", { headers: { authorization: basic(sidecar) } });
    await once(ws, "open");
    ws.pause(); // reads nothing: about 5 MB of answers must wait (the sidecar pauses past 1 MiB queued)
    const count = 5000;
    const pad = "x".repeat(1024);
    for (let seq = 1; seq <= count; seq++) {
      const request = { type: MessageType.REQUEST, flags: MessageFlags.TOPIC | MessageFlags.PAYLOAD, userid: USERID_UNKNOWN, rolemask: ROLE_NONE, aux1: NODEID_ANY, aux2: seq, topic: "broker.ping", payload: encodeJsonPayload({ seq, pad, route: "" }) };
      ws.send(frameMessage(encodeMessage(request)));
    }
    const other = await RawClient.connect(proxy.socketPath);
    try {
      assert.equal((await other.rpc("broker.ping", { seq: 1, pad: "", route: "" })).errnum, 0);
    } finally {
      other.close();
    }
    const reader = new MessageReader();
    const seen: number[] = [];
    const all = new Promise<void>((resolve) => {
      ws.on("message", (data: Buffer) => {
        for (const reply of reader.push(data)) seen.push(reply.aux2);
        if (seen.length >= count) resolve();
      });
    });
    ws.resume();
    await all;
    assert.deepEqual(seen, Array.from({ length: count }, (_, i) => i + 1));
    ws.close();
    await eventually(allClosed(sidecar), "the flooding connection closed");
  });
});

describe("flux proxy: long-lived connections", function () {
  let broker: Broker;
  let sidecar: Sidecar;
  let proxy: ProxyListener;
  before(async () => {
    broker = await startBroker({ kind: "test" });
    sidecar = await startTestSidecar(broker, { ...PROXY_ENV, FLUX_HEADERS_TIMEOUT_SECONDS: "1", FLUX_REQUEST_TIMEOUT_SECONDS: "1", FLUX_KEEPALIVE_TIMEOUT_SECONDS: "1" });
    proxy = await listenProxy({ host: sidecar.url, user: sidecar.user, token: sidecar.token });
  });
  after(async () => {
    await proxy?.close();
    await sidecar?.close();
    await broker?.stop();
  });

  it("outlive the HTTP request, header and keep-alive timeouts while quiet", async () => {
    const raw = await RawClient.connect(proxy.socketPath);
    try {
      assert.equal((await raw.rpc("broker.ping", { seq: 1, pad: "", route: "" })).errnum, 0);
      await new Promise((r) => setTimeout(r, 3500)); // past all three (1 s each, checked every second)
      assert.equal((await raw.rpc("broker.ping", { seq: 2, pad: "", route: "" })).errnum, 0);
    } finally {
      raw.close();
    }
  });
});

describe("flux proxy: idle connections", function () {
  let broker: Broker;
  let sidecar: Sidecar;
  let proxy: ProxyListener;
  before(async () => {
    broker = await startBroker({ kind: "test" });
    sidecar = await startTestSidecar(broker, { ...PROXY_ENV, FLUX_PROXY_IDLE_SECONDS: "1" });
    proxy = await listenProxy({ host: sidecar.url, user: sidecar.user, token: sidecar.token });
  });
  after(async () => {
    await proxy?.close();
    await sidecar?.close();
    await broker?.stop();
  });

  it("are closed after FLUX_PROXY_IDLE_SECONDS without a message, and the local client sees it", async () => {
    const raw = await RawClient.connect(proxy.socketPath);
    const closed = once((raw as unknown as { socket: net.Socket }).socket, "close");
    assert.equal((await raw.rpc("broker.ping", { seq: 1, pad: "", route: "" })).errnum, 0);
    await closed;
    await eventually(() => sidecar.logLines.some((l) => l.includes("flux proxy connection closed") && l.includes("idle for 1 s")), "the idle close is logged");
  });
});

describe("flux proxy: off by default", function () {
  let broker: Broker;
  let sidecar: Sidecar;
  before(async () => {
    broker = await startBroker({ kind: "test" });
    sidecar = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true" });
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
  });

  it("answers 404 to an authenticated upgrade, and the API still works", async () => {
    assert.equal(await upgradeStatus(sidecar.url, { authorization: basic(sidecar) }), 404);
    const res = await fetch(`${sidecar.url}/v1/jobs`, { headers: { authorization: basic(sidecar) } });
    assert.equal(res.status, 200);
  });
});

describe("flux proxy: configuration", function () {
  it("is off by default and refuses to turn on without FLUX_REQUIRE_AUTH", () => {
    const base = { FLUX_URI: "local:///tmp/none", FLUX_USER: "u", FLUX_TOKEN: "t", FLUX_SECRET_KEY: "s" };
    assert.equal(loadConfig(base).fluxProxy, false);
    assert.throws(() => loadConfig({ ...base, FLUX_PROXY: "true" }), (err: unknown) => err instanceof ConfigError && /FLUX_REQUIRE_AUTH/.test(err.message));
    const on = loadConfig({ ...base, FLUX_PROXY: "true", FLUX_REQUIRE_AUTH: "true", FLUX_PROXY_ALLOW_TOPICS: "module.load, attr.set" });
    assert.equal(on.fluxProxy, true);
    assert.deepEqual(on.proxyAllowTopics, ["module.load", "attr.set"]);
  });

  it("takes allowed topics off the deny list", () => {
    const request = (topic: string) => ({ type: MessageType.REQUEST, flags: MessageFlags.TOPIC, userid: 0, rolemask: 0, aux1: 0, aux2: 1, topic });
    assert.equal(new TopicPolicy().refuses(request("module.load")), true);
    assert.equal(new TopicPolicy(["module.load"]).refuses(request("module.load")), false);
    assert.equal(new TopicPolicy(["module.load"]).refuses(request("module.remove")), true);
    assert.equal(new TopicPolicy().refuses(request("job-manager.submit")), false);
  });

  it("refuses as the broker does: the request's flags and routes kept, owner credentials, errnum EPERM", () => {
    const streaming = { type: MessageType.REQUEST, flags: MessageFlags.TOPIC | MessageFlags.ROUTE | MessageFlags.STREAMING, userid: USERID_UNKNOWN, rolemask: ROLE_NONE, aux1: NODEID_ANY, aux2: 9, routes: [], topic: "shutdown.start" };
    const reply = deniedResponse(streaming, 1000)!;
    assert.equal(reply.type, MessageType.RESPONSE);
    assert.equal(reply.flags, MessageFlags.TOPIC | MessageFlags.ROUTE | MessageFlags.STREAMING | MessageFlags.PAYLOAD);
    assert.deepEqual([reply.aux1, reply.aux2, reply.userid, reply.rolemask], [1, 9, 1000, 5]);
    assert.equal(deniedResponse({ ...streaming, flags: MessageFlags.TOPIC | MessageFlags.NORESPONSE }, 1000), undefined);
  });
});
