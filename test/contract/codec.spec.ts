/**
 * The codec against byte vectors captured from a real broker (test/fixtures/flux/captured):
 * every captured message decodes to the recorded fields and re-encodes to the same bytes, and
 * the stream reader reassembles them from arbitrary chunkings. Also pins the wire facts the
 * client relies on, as the real broker showed them.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { FRAME_HEADER_SIZE, MessageFlags, MessageReader, MessageType, decodeMessage, encodeMessage } from "../../sidecar/flux/codec";
import { captureNames, captureVersions, framed, loadCapture, type CaptureFixture } from "../fixtures/flux/captured";

/** Every captured scenario of every release line, named "<line>/<scenario>". */
const fixtures: Array<[string, CaptureFixture]> = captureVersions().flatMap((v) => captureNames(v).map((name): [string, CaptureFixture] => [`${v}/${name}`, loadCapture(name, v)]));

describe("contract: codec on captured byte vectors", () => {
  it("has fixtures from a real flux-core and records its version", () => {
    assert.ok(fixtures.length >= 10, "expected the captured scenarios");
    for (const [name, f] of fixtures) {
      assert.match(f.fluxCoreVersion, /^0\.\d+\.\d+/, name);
      assert.ok(f.fluxCoreVersion.startsWith(`${name.split("/")[0]}.`), `${name} was captured on ${f.fluxCoreVersion}`);
    }
  });

  for (const [name, fixture] of fixtures) {
    it(`decodes and re-encodes every message of ${name} byte for byte`, () => {
      for (const m of framed(fixture)) {
        const bytes = Buffer.from(m.hex, "hex");
        assert.equal(bytes.readUInt32BE(4), bytes.length - FRAME_HEADER_SIZE, "length excludes the 8-byte header");
        const msg = decodeMessage(bytes.subarray(FRAME_HEADER_SIZE));
        const d = m.decoded;
        assert.deepEqual(
          { type: msg.type, flags: msg.flags, userid: msg.userid, rolemask: msg.rolemask, aux1: msg.aux1, aux2: msg.aux2, topic: msg.topic, routes: msg.routes },
          { type: d.type, flags: d.flags, userid: d.userid, rolemask: d.rolemask, aux1: d.aux1, aux2: d.aux2, topic: d.topic, routes: d.routes },
        );
        if (d.payload !== undefined) assert.equal(msg.payload?.toString("utf8"), d.payload + "\0", "payloads end with one NUL");
        assert.equal(encodeMessage(msg).toString("hex"), bytes.subarray(FRAME_HEADER_SIZE).toString("hex"));
      }
    });
  }

  it("reassembles each captured byte stream from arbitrary chunk boundaries", () => {
    const streams = fixtures.flatMap(([, f]) => {
      const byConn = new Map<string, Buffer[]>();
      for (const m of framed(f)) {
        const key = `${m.conn}/${m.dir}`;
        byConn.set(key, [...(byConn.get(key) ?? []), Buffer.from(m.hex, "hex")]);
      }
      return [...byConn.values()];
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: streams.length - 1 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 }), (which, cuts) => {
        const messages = streams[which];
        const bytes = Buffer.concat(messages);
        const reader = new MessageReader();
        const out = [];
        let off = 0;
        for (let i = 0; off < bytes.length; i++) {
          const size = cuts[i % cuts.length];
          out.push(...reader.push(bytes.subarray(off, off + size)));
          off += size;
        }
        assert.equal(out.length, messages.length);
        out.forEach((msg, i) => assert.equal(encodeMessage(msg).toString("hex"), messages[i].subarray(FRAME_HEADER_SIZE).toString("hex")));
      }),
      { numRuns: 200 },
    );
  });

  it("shows the real broker's conventions: ROUTE + empty delimiter on replies, STREAMING kept, errors as NUL-terminated text", () => {
    const all = fixtures.flatMap(([, f]) => framed(f));
    const replies = all.filter((m) => m.dir === "s2c" && m.decoded.type === MessageType.RESPONSE);
    assert.ok(replies.length > 100);
    for (const r of replies) {
      assert.ok(r.decoded.flags & MessageFlags.ROUTE, "responses carry the ROUTE flag");
      assert.deepEqual(r.decoded.routes, [], "with an empty route stack");
    }
    const streamEnds = replies.filter((r) => r.decoded.topic === "job-info.eventlog-watch" && r.decoded.aux1 === 61); // ENODATA
    assert.ok(streamEnds.length > 0);
    for (const r of streamEnds) assert.ok(r.decoded.flags & MessageFlags.STREAMING, "the terminating error keeps STREAMING");
    const texts = replies.filter((r) => r.decoded.aux1 !== 0 && r.decoded.payload !== undefined).map((r) => r.decoded.payload);
    assert.ok(texts.includes("unknown job id"));
    assert.ok(texts.includes("job is inactive"));
    assert.ok(texts.includes("eventlog-watch request rejected without streaming RPC flag"));
  });

  it("shows what the flux CLI (libflux) sends: userid UNKNOWN, rolemask 0, nodeid 0 for resource RPCs", () => {
    const requests = fixtures.flatMap(([, f]) => framed(f)).filter((m) => m.dir === "c2s");
    for (const r of requests) {
      assert.equal(r.decoded.type, MessageType.REQUEST);
      assert.equal(r.decoded.userid, 0xffffffff);
      assert.equal(r.decoded.rolemask, 0);
      if (r.decoded.payload !== undefined) assert.ok(r.decoded.flags & MessageFlags.PAYLOAD);
    }
    const resource = requests.filter((r) => r.decoded.topic === "resource.sched-status");
    assert.ok(resource.length > 0 && resource.every((r) => r.decoded.aux1 === 0 && r.decoded.payload === undefined));
  });
});
