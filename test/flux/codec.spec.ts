import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MessageFlags,
  MessageReader,
  MessageType,
  decodeJsonPayload,
  decodeMessage,
  decodeStringPayload,
  encodeJsonPayload,
  encodeMessage,
  frameMessage,
  signNone,
  unwrapNone,
  type FluxMessage,
} from "../../sidecar/flux/codec";
import { FluxProtocolError } from "../../sidecar/flux/errors";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const ascii = (s: string) => Buffer.from(s, "latin1").toString("hex");

// flux-protocol reference §2.6: bytes captured from a 0.88 broker on x86_64.
const ATTR_GET_REQUEST = hex(
  "1200eeff 0000002f" +
    "08" + ascii("attr.get") +
    "10" + ascii('{"name":"size"}') + "00" +
    "14 8e010103 ffffffff 00000000 ffffffff 00000001",
);
const ATTR_GET_REPLY = hex(
  "1200eeff 00000038" +
    "00" +
    "08" + ascii("attr.get") +
    "18" + ascii('{"value":"1","flags":1}') + "00" +
    "14 8e01020b 00000000 00000005 00000000 00000001",
);
const ATTR_GET_ERROR = hex(
  "1200eeff 0000001f" + "00" + "08" + ascii("attr.get") + "14 8e010209 00000000 00000005 00000002 00000002",
);

describe("flux codec", () => {
  describe("worked example (reference §2.6)", () => {
    it("encodes attr.get {name:size} matchtag 1 byte for byte", () => {
      const body = encodeMessage({
        type: MessageType.REQUEST,
        flags: MessageFlags.TOPIC | MessageFlags.PAYLOAD,
        userid: 0xffffffff,
        rolemask: 0,
        aux1: 0xffffffff,
        aux2: 1,
        topic: "attr.get",
        payload: encodeJsonPayload({ name: "size" }),
      });
      assert.deepEqual(frameMessage(body), ATTR_GET_REQUEST);
    });

    it("decodes the reply with its empty route delimiter", () => {
      const [msg, ...rest] = new MessageReader().push(ATTR_GET_REPLY);
      assert.equal(rest.length, 0);
      assert.equal(msg.type, MessageType.RESPONSE);
      assert.equal(msg.flags, 0x0b);
      assert.deepEqual(msg.routes, []);
      assert.equal(msg.topic, "attr.get");
      assert.equal(msg.aux1, 0);
      assert.equal(msg.aux2, 1);
      assert.equal(msg.rolemask, 5);
      assert.deepEqual(decodeJsonPayload(msg.payload), { value: "1", flags: 1 });
      // re-encoding the decoded message reproduces the captured bytes
      assert.deepEqual(frameMessage(encodeMessage(msg)), ATTR_GET_REPLY);
    });

    it("decodes an error reply without payload", () => {
      const [msg] = new MessageReader().push(ATTR_GET_ERROR);
      assert.equal(msg.flags, 0x09);
      assert.equal(msg.aux1, 2);
      assert.equal(msg.aux2, 2);
      assert.equal(msg.payload, undefined);
      assert.equal(decodeStringPayload(msg.payload), "");
    });
  });

  describe("frames", () => {
    for (const size of [0, 1, 254, 255, 256, 70000]) {
      it(`round-trips a ${size}-byte payload with the right size prefix`, () => {
        const payload = Buffer.alloc(size, 0x61);
        const body = encodeMessage({ type: 1, flags: MessageFlags.PAYLOAD, userid: 0, rolemask: 0, aux1: 0, aux2: 0, payload });
        const prefix = size < 255 ? 1 : 5;
        assert.equal(body.length, prefix + size + 21);
        if (size >= 255) {
          assert.equal(body[0], 0xff);
          assert.equal(body.readUInt32BE(1), size);
        } else assert.equal(body[0], size);
        assert.deepEqual(decodeMessage(body).payload, payload);
      });
    }

    it("encodes route frames, most recent hop first, then the delimiter", () => {
      const msg: FluxMessage = {
        type: MessageType.EVENT, flags: MessageFlags.ROUTE | MessageFlags.TOPIC, userid: 1, rolemask: 2, aux1: 7, aux2: 0,
        routes: ["abc", "de"], topic: "heartbeat.pulse",
      };
      const body = encodeMessage(msg);
      assert.deepEqual(body.subarray(0, 8), hex("03" + ascii("abc") + "02" + ascii("de") + "00"));
      assert.deepEqual(decodeMessage(body), msg);
    });

    it("round-trips arbitrary messages", () => {
      const arb = fc.record({
        type: fc.constantFrom(1, 2, 4, 8),
        flagsBase: fc.constantFrom(0, MessageFlags.NORESPONSE, MessageFlags.STREAMING, MessageFlags.PRIVATE | MessageFlags.UPSTREAM),
        userid: fc.nat({ max: 0xffffffff }),
        rolemask: fc.nat({ max: 0xffffffff }),
        aux1: fc.nat({ max: 0xffffffff }),
        aux2: fc.nat({ max: 0xffffffff }),
        routes: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\0")), { maxLength: 3 })),
        topic: fc.option(fc.string({ maxLength: 300 }).filter((s) => !s.endsWith("\0"))),
        payload: fc.option(fc.uint8Array({ maxLength: 600 })),
      });
      fc.assert(
        fc.property(arb, (a) => {
          const msg: FluxMessage = {
            type: a.type,
            flags: a.flagsBase | (a.routes ? MessageFlags.ROUTE : 0) | (a.topic !== null ? MessageFlags.TOPIC : 0) | (a.payload ? MessageFlags.PAYLOAD : 0),
            userid: a.userid, rolemask: a.rolemask, aux1: a.aux1, aux2: a.aux2,
          };
          if (a.routes) msg.routes = a.routes;
          if (a.topic !== null) msg.topic = a.topic;
          if (a.payload) msg.payload = Buffer.from(a.payload);
          assert.deepEqual(decodeMessage(encodeMessage(msg)), msg);
        }),
      );
    });

    const malformed: Array<[string, Buffer, RegExp]> = [
      ["no frames", Buffer.alloc(0), /empty message/],
      ["short proto frame", hex("03 8e0101"), /proto frame is 3 bytes/],
      ["bad proto magic", hex("14 8f010103 ffffffff 00000000 ffffffff 00000001"), /bad proto magic/],
      ["bad proto version", hex("14 8e020103 ffffffff 00000000 ffffffff 00000001"), /unsupported proto version 2/],
      ["unknown type", hex("14 8e010300 00000000 00000000 00000000 00000000"), /invalid message type 3/],
      ["NORESPONSE|STREAMING", hex("14 8e010144 00000000 00000000 00000000 00000000"), /mutually exclusive/],
      ["missing topic", hex("14 8e010101 00000000 00000000 00000000 00000000"), /topic frame missing/],
      ["missing payload", hex("01 61 14 8e010103 00000000 00000000 00000000 00000000"), /payload frame missing/],
      ["no route delimiter", hex("01 61 14 8e010108 00000000 00000000 00000000 00000000"), /no route delimiter/],
      ["extra frame", hex("01 61 01 62 14 8e010101 00000000 00000000 00000000 00000000"), /1 unexpected frame/],
      ["frame overrun", hex("09 61 14 8e010101"), /overruns/],
      ["truncated long size", hex("ff 0000"), /truncated frame size/],
    ];
    for (const [name, body, pattern] of malformed) {
      it(`rejects ${name} with FluxProtocolError`, () => {
        assert.throws(() => decodeMessage(body), (err: unknown) => err instanceof FluxProtocolError && pattern.test(err.message));
      });
    }
  });

  describe("MessageReader", () => {
    const messages = [ATTR_GET_REPLY, ATTR_GET_ERROR, ATTR_GET_REPLY];
    const stream = Buffer.concat(messages);

    it("parses messages split at every possible position", () => {
      for (let cut = 0; cut <= stream.length; cut++) {
        const reader = new MessageReader();
        const got = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
        assert.equal(got.length, 3, `cut at ${cut}`);
        assert.deepEqual(got.map((m) => m.aux2), [1, 2, 1]);
        assert.equal(reader.bufferedBytes, 0);
      }
    });

    it("parses a stream fed one byte at a time", () => {
      const reader = new MessageReader();
      const got: FluxMessage[] = [];
      for (const byte of stream) got.push(...reader.push(Buffer.of(byte)));
      assert.deepEqual(got.map((m) => m.aux1), [0, 2, 0]);
    });

    it("rejects a big-endian magic (the RFC's byte order) and stays broken", () => {
      const reader = new MessageReader();
      const bad = Buffer.from(ATTR_GET_REPLY);
      bad.writeUInt32BE(0xffee0012, 0);
      assert.throws(() => reader.push(bad), /bad frame magic 0x1200eeff/);
      assert.throws(() => reader.push(ATTR_GET_REPLY), FluxProtocolError);
    });

    it("rejects a length over maxMessageBytes before buffering it", () => {
      const reader = new MessageReader({ maxMessageBytes: 1024 });
      assert.throws(() => reader.push(hex("1200eeff 00100000")), /1048576 bytes exceeds the 1024-byte limit/);
    });

    describe("messages over maxMessageBytes, for a sink that skips them", () => {
      const reply = (matchtag: number, payloadBytes: number, flags: number = MessageFlags.STREAMING) =>
        frameMessage(
          encodeMessage({
            type: MessageType.RESPONSE,
            flags: MessageFlags.TOPIC | MessageFlags.PAYLOAD | flags,
            userid: 7,
            rolemask: 5,
            aux1: 0,
            aux2: matchtag,
            topic: "job-info.lookup",
            payload: encodeJsonPayload({ data: "x".repeat(payloadBytes) }),
          }),
        );
      const collect = (reader: MessageReader, chunks: Buffer[]) => {
        const got: Array<{ kind: "message" | "oversized"; aux2: number; size?: number }> = [];
        let maxBuffered = 0;
        for (const chunk of chunks) {
          reader.feed(chunk, {
            message: (msg) => got.push({ kind: "message", aux2: msg.aux2 }),
            oversized: (msg) => got.push({ kind: "oversized", aux2: msg.aux2, size: msg.size }),
          });
          maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
        }
        return { got, maxBuffered };
      };
      const split = (bytes: Buffer, size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

      it("reports the skipped message's header and size in order, and the reader goes on", () => {
        const big = reply(42, 100_000);
        const bytes = Buffer.concat([reply(1, 10), big, reply(2, 10)]);
        for (const chunkSize of [1, 7, 21, 4096, 65536, bytes.length]) {
          const { got, maxBuffered } = collect(new MessageReader({ maxMessageBytes: 1024 }), split(bytes, chunkSize));
          assert.deepEqual(got, [
            { kind: "message", aux2: 1 },
            { kind: "oversized", aux2: 42, size: big.length - 8 },
            { kind: "message", aux2: 2 },
          ], `chunks of ${chunkSize}`);
          assert.ok(maxBuffered <= Math.max(chunkSize, 1024), `chunks of ${chunkSize}: buffered ${maxBuffered} bytes`);
        }
      });

      it("carries the proto fields of the skipped message (type, flags, userid, rolemask, errnum)", () => {
        const big = reply(9, 5000, 0);
        const [oversized] = collect(new MessageReader({ maxMessageBytes: 1024 }), [big]).got;
        assert.equal(oversized.aux2, 9);
        const reader = new MessageReader({ maxMessageBytes: 1024 });
        reader.feed(big, {
          message: () => assert.fail("not delivered"),
          oversized: (msg) => assert.deepEqual(msg, { type: MessageType.RESPONSE, flags: MessageFlags.TOPIC | MessageFlags.PAYLOAD, userid: 7, rolemask: 5, aux1: 0, aux2: 9, size: big.length - 8 }),
        });
      });

      it("still treats a length above MAX_SKIPPABLE_BYTES as a protocol error", () => {
        const reader = new MessageReader({ maxMessageBytes: 1024 });
        const header = hex("1200eeff 40000001"); // 1 GiB + 1
        assert.throws(() => reader.feed(header, { message: () => {}, oversized: () => {} }), /1073741825 bytes exceeds the 1024-byte limit/);
      });

      it("rejects a skipped message that does not end with a proto frame", () => {
        const reader = new MessageReader({ maxMessageBytes: 1024 });
        const bogus = Buffer.concat([hex("1200eeff 00000800"), Buffer.alloc(0x800, 0x41)]);
        assert.throws(() => reader.feed(bogus, { message: () => {}, oversized: () => {} }), (err: unknown) => err instanceof FluxProtocolError && /does not end with a proto frame/.test(err.message));
      });

      it("an exception from the sink leaves the reader usable", () => {
        const reader = new MessageReader();
        assert.throws(() => reader.feed(Buffer.concat([ATTR_GET_REPLY, ATTR_GET_ERROR]), { message: () => { throw new Error("consumer bug"); } }), /consumer bug/);
        assert.deepEqual(reader.push(Buffer.alloc(0)).map((m) => m.aux2), [2], "the message after it is still there");
      });
    });

    it("only ever throws FluxProtocolError on garbage", () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (chunks, validPrefix) => {
          const reader = new MessageReader({ maxMessageBytes: 4096 });
          const feed = validPrefix ? [ATTR_GET_REPLY, ...chunks.map((c) => Buffer.from(c))] : chunks.map((c) => Buffer.from(c));
          try {
            for (const chunk of feed) reader.push(chunk);
          } catch (err) {
            assert.ok(err instanceof FluxProtocolError, `unexpected ${String(err)}`);
          }
        }),
        { numRuns: 500 },
      );
    });

    it("only ever throws FluxProtocolError on well-framed garbage bodies", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 80 }), (body) => {
          try {
            new MessageReader().push(frameMessage(Buffer.from(body)));
          } catch (err) {
            assert.ok(err instanceof FluxProtocolError, `unexpected ${String(err)}`);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });

  describe("payloads", () => {
    it("JSON payloads end in NUL and keep 64-bit ids exact", () => {
      const id = 18446744073709551615n;
      const buf = encodeJsonPayload({ id, name: "x" });
      assert.equal(buf[buf.length - 1], 0);
      assert.equal(buf.toString("utf8", 0, buf.length - 1), '{"id":18446744073709551615,"name":"x"}');
      assert.deepEqual(decodeJsonPayload(buf), { id, name: "x" });
    });

    it("decodes non-compact JSON (broker.ping, Python services)", () => {
      assert.deepEqual(decodeJsonPayload(Buffer.from('{"seq": 0, "userid": 1000}\0')), { seq: 0, userid: 1000 });
    });

    it("rejects payloads that are not JSON objects", () => {
      assert.throws(() => decodeJsonPayload(Buffer.from("[1]\0")), /not a JSON object/);
      assert.throws(() => decodeJsonPayload(Buffer.from("{\0")), /not valid JSON/);
    });

    it("decodes NUL-terminated error strings", () => {
      assert.equal(decodeStringPayload(Buffer.from("No service matching nosuchservice.foo is registered\0")), "No service matching nosuchservice.foo is registered");
    });
  });

  describe("none signing envelope", () => {
    it("produces flux-core's header for uid 0 (reference §4.2)", () => {
      const J = signNone('{"version":1}', 0);
      const [header, body, sig] = J.split(".");
      assert.equal(header, "dmVyc2lvbgBpMQB1c2VyaWQAaTAAbWVjaGFuaXNtAHNub25lAA==");
      assert.equal(Buffer.from(body, "base64").toString(), '{"version":1}');
      assert.equal(sig, "none");
    });

    it("round-trips uid and unicode jobspec text", () => {
      const jobspec = '{"tasks":[{"command":["echo","héllo ✓"]}]}';
      assert.deepEqual(unwrapNone(signNone(jobspec, 1000)), { uid: 1000, jobspecJson: jobspec });
    });
  });
});
