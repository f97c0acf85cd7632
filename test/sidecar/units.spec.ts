/** The sidecar's pure pieces: response JSON, request coalescing, the snapshot gate, line splitting, rate limiting, log scrubbing. */
import assert from "node:assert/strict";
import { clientKey } from "../../sidecar/api/address";
import { FailureLimiter } from "../../sidecar/api/auth";
import { NextFlight } from "../../sidecar/api/coalesce";
import { toJson } from "../../sidecar/api/json";
import { Gate, LineSplitter } from "../../sidecar/api/service";
import { secretScrubber } from "../../sidecar/log";

describe("sidecar: units", () => {
  it("toJson writes Python's bytes: .0 on whole float fields, exact bigints, Map key order, literal UTF-8", () => {
    const job = new Map<string, unknown>([["id", 2n ** 60n + 1n], ["t_submit", 1795595220], ["duration", 0], ["ntasks", 1], ["name", "ƒ🥞\"q"]]);
    assert.equal(toJson(job), '{"id":1152921504606846977,"t_submit":1795595220.0,"duration":0.0,"ntasks":1,"name":"ƒ🥞\\"q"}');
    assert.equal(toJson(new Map([["20", 1], ["10", 2]])), '{"20":1,"10":2}'); // a plain object would reorder these
    assert.equal(toJson({ runtime: 0.5, x: [undefined, NaN], y: undefined }), '{"runtime":0.5,"x":[null,null]}');
    assert.equal(toJson("\u2028\ud800"), JSON.stringify("\u2028\ud800"));
  });

  it("Gate runs at most its limit at once, the rest in arrival order, and frees a slot when a task fails", async () => {
    const gate = new Gate(2);
    const started: number[] = [];
    const finish: Array<(ok: boolean) => void> = [];
    const tasks = [0, 1, 2, 3].map((n) =>
      gate.run(() => {
        started.push(n);
        return new Promise<number>((resolve, reject) => finish.push((ok) => (ok ? resolve(n) : reject(new Error(`task ${n}`)))));
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1]);
    finish[0](false);
    await assert.rejects(tasks[0], /task 0/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1, 2]);
    finish[1](true);
    finish[2](true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1, 2, 3]);
    finish[3](true);
    assert.deepEqual(await Promise.all(tasks.slice(1)), [1, 2, 3]);
    assert.equal(await gate.run(async () => "free again"), "free again");
  });

  it("NextFlight shares a call among callers that arrived while it was queued, never one that started before them", async () => {
    let calls = 0;
    const releases: Array<() => void> = [];
    const flight = new NextFlight(() => {
      const n = ++calls;
      return new Promise<number>((resolve) => releases.push(() => resolve(n)));
    });
    const a = flight.run(); // starts call 1
    const b = flight.run(); // arrived during call 1: waits for call 2
    const c = flight.run(); // shares call 2 with b
    assert.equal(calls, 1);
    releases[0]();
    assert.equal(await a, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 2);
    releases[1]();
    assert.deepEqual([await b, await c], [2, 2]);
    const d = flight.run(); // idle again: starts at once
    assert.equal(calls, 3);
    releases[2]();
    assert.equal(await d, 3);
  });

  it("LineSplitter joins pieces per stream and rank and keeps each line's \\n", () => {
    const lines = new LineSplitter();
    lines.push({ stream: "stdout", rank: "0", data: "a\nb" });
    lines.push({ stream: "stdout", rank: "1", data: "x" });
    lines.push({ stream: "stdout", rank: "0", data: "c\nd\n" });
    lines.push({ stream: "stderr", rank: "0", data: "e\n" });
    assert.deepEqual(lines.finish(), ["a\n", "bc\n", "d\n", "e\n", "x"]);
  });

  it("FailureLimiter blocks an address after N failures for the rest of the window", () => {
    let now = 0;
    const limiter = new FailureLimiter(2, 10_000, () => now);
    limiter.fail("a");
    assert.equal(limiter.retryAfter("a"), 0);
    limiter.fail("a");
    assert.equal(limiter.retryAfter("a"), 10);
    assert.equal(limiter.retryAfter("b"), 0);
    now = 9_500;
    assert.equal(limiter.retryAfter("a"), 1);
    now = 10_000;
    assert.equal(limiter.retryAfter("a"), 0);
  });

  it("secretScrubber removes configured secrets, credentials and JWTs from a log line", () => {
    const scrub = secretScrubber(["s3cr\"et"]);
    const line = JSON.stringify({ a: 's3cr"et', h: "Bearer abc.def", b: "basic dXNlcjpwdw==", t: "eyJhbGciOi.eyJzdWIi.sig" });
    const out = scrub(line);
    for (const leak of ['s3cr\\"et', "abc.def", "dXNlcjpwdw==", "eyJhbGciOi"]) assert.ok(!out.includes(leak), `${leak} in ${out}`);
  });
});

describe("sidecar: client keys for per-client limits", () => {
  it("keys IPv4 by address, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64", () => {
    assert.equal(clientKey("203.0.113.9"), "203.0.113.9");
    assert.equal(clientKey("::ffff:203.0.113.9"), "203.0.113.9");
    assert.equal(clientKey("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(clientKey("2001:db8:0:0:ffff::2"), clientKey("2001:db8::1"), "one /64, one client");
    assert.equal(clientKey("2001:DB8:a:b:c:d:e:f"), "2001:db8:a:b::/64");
    assert.notEqual(clientKey("2001:db8:0:1::1"), clientKey("2001:db8::1"), "another /64, another client");
  });
});
