/**
 * Connection bounds, on raw sockets against the sidecar in a child process with the
 * MiniCluster's memory settings: a flood of idle connections from many loopback addresses
 * cannot take the health routes or a real client's place, one address cannot hold more than
 * its share, RSS stays bounded, and connections that send nothing, or trickle a body, are
 * closed by the header and request timeouts (not after minutes).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { startBroker } from "../support/broker";
import { fetchAccessToken, randomCredentials } from "./support/auth";
import { startChildSidecar, type ChildSidecar } from "./support/child-sidecar";
import { sidecarEnv, type Broker } from "./support/harness";
import { rawRequest } from "./support/raw-http";

const MAX_CONNECTIONS = 100;
const PER_ADDRESS = 50;
const FLOOD_ADDRESSES = 40;
const MiB = 1024 * 1024;

/** An open TCP connection from `localAddress`, with what it received and whether it closed. */
interface Held {
  socket: Socket;
  received: string;
  closed: boolean;
}

async function hold(port: number, localAddress: string): Promise<Held> {
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  const held: Held = { socket, received: "", closed: false };
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (held.received += chunk));
  socket.on("error", () => undefined); // a reset is one way of being refused
  socket.on("close", () => (held.closed = true));
  await Promise.race([once(socket, "connect"), once(socket, "close")]);
  return held;
}

async function waitFor(what: string, condition: () => boolean, withinMs: number): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    assert.ok(performance.now() - started < withinMs, `${what}: not within ${withinMs} ms`);
    await sleep(50);
  }
  return performance.now() - started;
}

describe("reliability: connection bounds", function () {
  this.timeout(120_000);
  let broker: Broker;
  const creds = randomCredentials();
  const sidecars: ChildSidecar[] = [];
  const sockets: Socket[] = [];

  before(async () => {
    broker = await startBroker();
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await broker?.stop();
  });

  async function start(env: Record<string, string>): Promise<ChildSidecar> {
    const sidecar = await startChildSidecar(sidecarEnv(broker.uri, broker.size, creds, env));
    sidecars.push(sidecar);
    return sidecar;
  }

  it("keeps health checks and real clients served under a flood of idle connections from many addresses, within bounded RSS", async () => {
    const sidecar = await start({ FLUX_MAX_CONNECTIONS: String(MAX_CONNECTIONS), FLUX_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) });
    const authorization = `Bearer ${await fetchAccessToken(sidecar.url, creds)}`;
    const before = (await sidecar.probe()).rss;
    // 40 addresses x 50 connections: twenty times the cap, each address within its share.
    const flood: Held[] = [];
    for (let a = 0; a < FLOOD_ADDRESSES; a++) {
      const batch = await Promise.all(Array.from({ length: PER_ADDRESS }, () => hold(sidecar.port, `127.0.1.${a + 1}`)));
      for (const held of batch) sockets.push(held.socket);
      flood.push(...batch);
    }
    const held = () => flood.filter((h) => !h.closed).length;
    await waitFor(`at most ${MAX_CONNECTIONS} idle connections held (${held()} now)`, () => held() <= MAX_CONNECTIONS, 10_000);

    const health = await rawRequest(sidecar.port, { method: "GET", path: "/healthz" });
    assert.equal(health.status, 200, health.body);
    const ready = await rawRequest(sidecar.port, { method: "GET", path: "/readyz" });
    assert.equal(ready.status, 200, ready.body);
    const jobs = await rawRequest(sidecar.port, { method: "GET", path: "/v1/jobs", headers: { authorization } });
    assert.equal(jobs.status, 200, "a real client takes an idle connection's place");

    const after = (await sidecar.probe()).rss;
    assert.ok(after - before < 32 * MiB, `RSS grew ${((after - before) / MiB).toFixed(1)} MiB under the flood`);
    const metrics = await rawRequest(sidecar.port, { method: "GET", path: "/metrics", headers: { authorization } });
    const evicted = Number(/flux_sidecar_connections_evicted (\d+)/.exec(metrics.body)?.[1]);
    assert.ok(evicted >= FLOOD_ADDRESSES * PER_ADDRESS - MAX_CONNECTIONS, `evicted ${evicted}`);
  });

  it("refuses one address past its share with a 503 at once, while another address is served", async () => {
    const sidecar = await start({ FLUX_MAX_CONNECTIONS: String(MAX_CONNECTIONS), FLUX_MAX_CONNECTIONS_PER_ADDRESS: "10" });
    const mine = await Promise.all(Array.from({ length: 10 }, () => hold(sidecar.port, "127.0.2.1")));
    sockets.push(...mine.map((h) => h.socket));
    const extra = await hold(sidecar.port, "127.0.2.1");
    sockets.push(extra.socket);
    await waitFor("the refused connection closes", () => extra.closed, 5_000);
    assert.match(extra.received, /^HTTP\/1\.1 503 /);
    assert.match(extra.received, /connection limit/);
    assert.equal(mine.filter((h) => h.closed).length, 0, "the address keeps its share");
    const other = await rawRequest(sidecar.port, { method: "GET", path: "/healthz" });
    assert.equal(other.status, 200);
  });

  it("answers only the health routes on reserve connections when every connection is busy", async () => {
    const sidecar = await start({ FLUX_MAX_CONNECTIONS: "4", FLUX_MAX_CONNECTIONS_PER_ADDRESS: "100" });
    const authorization = `Bearer ${await fetchAccessToken(sidecar.url, creds)}`;
    // Four connections in use: each has sent the start of a request (so none is "unused").
    const busy = await Promise.all(Array.from({ length: 4 }, () => hold(sidecar.port, "127.0.3.1")));
    for (const held of busy) {
      sockets.push(held.socket);
      held.socket.write("POST /ui/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
    }
    await sleep(200);
    const jobs = await rawRequest(sidecar.port, { method: "GET", path: "/v1/jobs", headers: { authorization } });
    assert.equal(jobs.status, 503, jobs.body);
    assert.match(jobs.body, /connection limit/);
    const health = await rawRequest(sidecar.port, { method: "GET", path: "/healthz" });
    assert.equal(health.status, 200, health.body);
  });

  it("lets a real client take the place of connections idle between requests (keep-alive)", async () => {
    const sidecar = await start({ FLUX_MAX_CONNECTIONS: "8", FLUX_MAX_CONNECTIONS_PER_ADDRESS: "100" });
    const authorization = `Bearer ${await fetchAccessToken(sidecar.url, creds)}`;
    const parked = await Promise.all(Array.from({ length: 8 }, () => hold(sidecar.port, "127.0.5.1")));
    for (const held of parked) {
      sockets.push(held.socket);
      held.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    await waitFor("every parked connection got its answer", () => parked.every((h) => h.received.includes("\r\n\r\n")), 5_000);
    const jobs = await rawRequest(sidecar.port, { method: "GET", path: "/v1/jobs", headers: { authorization } });
    assert.equal(jobs.status, 200, jobs.body);
    assert.ok(parked.some((h) => h.closed), "an idle keep-alive connection gave way");
  });

  it("cuts off a client that sends requests and never reads the answers", async () => {
    const sidecar = await start({ FLUX_MAX_CONNECTIONS: "4", FLUX_WRITE_STALL_SECONDS: "2" });
    const authorization = `Bearer ${await fetchAccessToken(sidecar.url, creds)}`;
    const stalled = async () => {
      const metrics = await rawRequest(sidecar.port, { method: "GET", path: "/metrics", headers: { authorization } });
      return Number(/flux_sidecar_connections_stalled (\d+)/.exec(metrics.body)?.[1]);
    };
    assert.equal(await stalled(), 0);
    const reader = connect({ port: sidecar.port, host: "127.0.0.1", localAddress: "127.0.6.1" });
    sockets.push(reader);
    let closed = false;
    reader.on("error", () => undefined);
    reader.on("close", () => (closed = true));
    await once(reader, "connect");
    reader.pause(); // never reads: the answers pile up in the server's socket buffers
    const script = (await rawRequest(sidecar.port, { method: "GET", path: "/" })).body.match(/static\/[^"]+\.js/)![0];
    reader.write(`GET /${script} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(300));
    let count = 0;
    for (const started = performance.now(); count === 0 && performance.now() - started < 20_000; await sleep(250)) count = await stalled();
    assert.equal(count, 1, "the server closed the stalled connection");
    // A paused socket sees its end only once it reads again.
    reader.resume();
    await waitFor("the client sees the connection closed", () => closed, 10_000);
  });

  it("refuses a burst of connections past the caps without holding their descriptors", async () => {
    const sidecar = await start({ FLUX_MAX_CONNECTIONS: "4", FLUX_MAX_CONNECTIONS_PER_ADDRESS: "2" });
    const fds = () => readdirSync(`/proc/${sidecar.pid}/fd`).length;
    const before = fds();
    let peak = before;
    const burst: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      for (let j = 0; j < 100; j++) {
        const s = connect({ port: sidecar.port, host: "127.0.0.1", localAddress: "127.0.7.1" });
        s.on("error", () => undefined);
        s.pause();
        burst.push(s);
      }
      await sleep(10);
      peak = Math.max(peak, fds());
    }
    sockets.push(...burst);
    // 2 admitted, at most 64 refusals waiting to be read, a few for the sampling itself.
    assert.ok(peak - before <= 2 + 64 + 16, `descriptors grew by ${peak - before}`);
  });

  it("closes a connection that sends nothing after the header timeout, and a trickled body after the request timeout", async () => {
    const sidecar = await start({ FLUX_HEADERS_TIMEOUT_SECONDS: "1", FLUX_REQUEST_TIMEOUT_SECONDS: "2" });
    const silent = await hold(sidecar.port, "127.0.4.1");
    const trickle = await hold(sidecar.port, "127.0.4.2");
    sockets.push(silent.socket, trickle.socket);
    trickle.socket.write("POST /ui/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
    const drip = setInterval(() => trickle.socket.writable && trickle.socket.write("a"), 100);
    try {
      // Bounds several times the timeouts (noisy machines), and far below the 300 s Node allows.
      await waitFor("the silent connection is closed", () => silent.closed, 10_000);
      await waitFor("the trickling request is ended", () => trickle.closed || /^HTTP\/1\.1 408/.test(trickle.received), 15_000);
    } finally {
      clearInterval(drip);
    }
  });
});
