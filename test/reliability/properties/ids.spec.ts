/** Property tests of the job id parser: every text form round-trips, and no input escapes as anything but JobIdError. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatJobId, JobIdError, parseJobId, type JobIdForm } from "../../../sidecar/flux/ids";

const MAX_ID = (1n << 64n) - 1n;
const FORMS: JobIdForm[] = ["dec", "f58", "f58plain", "hex", "dothex"];
const anyId = fc.bigInt({ min: 0n, max: MAX_ID });
// Realistic FLUIDs: a 40-bit millisecond timestamp shifted left by 24 bits, plus generator/sequence bits.
const fluid = fc
  .tuple(fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 24n) - 1n }))
  .map(([ms, low]) => (ms << 24n) | low);

/** The parser's contract for any input: a 64-bit id or a JobIdError, nothing else. */
function parseOutcome(text: string): { id: bigint } | { error: JobIdError } {
  try {
    return { id: parseJobId(text) };
  } catch (err) {
    if (!(err instanceof JobIdError)) throw new Error(`parseJobId(${JSON.stringify(text)}) threw ${String(err)}`);
    return { error: err };
  }
}

describe("reliability: job id parser properties", () => {
  it("round-trips every 64-bit id through every text form", () => {
    fc.assert(
      fc.property(fc.oneof(anyId, fluid), fc.constantFrom(...FORMS), (id, form) => {
        assert.equal(parseJobId(formatJobId(id, form)), id);
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts the kvs form job.<dothex> for every id", () => {
    fc.assert(fc.property(anyId, (id) => assert.equal(parseJobId(`job.${formatJobId(id, "dothex")}`), id)));
  });

  it("reads every decimal string up to 2^64-1 as that integer, leading zeros included", () => {
    fc.assert(
      fc.property(anyId, fc.nat({ max: 5 }), (id, zeros) => {
        assert.equal(parseJobId("0".repeat(zeros) + id.toString()), id);
      }),
    );
  });

  it("rejects every id beyond 64 bits in decimal and hex with a message naming the input", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: MAX_ID + 1n, max: 1n << 80n }), (big) => {
        for (const text of [big.toString(), `0x${big.toString(16)}`]) {
          const outcome = parseOutcome(text);
          assert.ok("error" in outcome, `${text} was accepted`);
          assert.ok(outcome.error.message.includes(text), outcome.error.message);
        }
      }),
    );
  });

  it("rejects negative, fractional, exponent and signed numbers", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_ID }), fc.constantFrom("-", "+", "", "1e", ".5", ",0", "_1"), (n, affix) => {
        const texts = [`-${n}`, `+${n}`, `${n}.0`, `${n}e3`, `${n}${affix === "" ? " 1" : affix}`];
        for (const text of texts) assert.ok("error" in parseOutcome(text), `${JSON.stringify(text)} was accepted`);
      }),
    );
  });

  it("answers any string with a 64-bit id or a JobIdError, and an accepted id is stable", () => {
    const hostile = fc.oneof(
      fc.string(),
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: "binary" }),
      fc.stringMatching(/^(job\.)?[ƒf0x.]?[0-9a-zA-Z.ƒ-]{0,24}$/),
      fc.constantFrom("../1", "1/../2", "1;rm -rf /", "$(id)", "`id`", "1%00", "\u0000", "１２３", "٣", "ƒ", "f", "0x", "job.", "...."),
    );
    fc.assert(
      fc.property(hostile, (text) => {
        const outcome = parseOutcome(text);
        if ("id" in outcome) {
          assert.equal(typeof outcome.id, "bigint");
          assert.ok(outcome.id >= 0n && outcome.id <= MAX_ID);
          assert.equal(parseJobId(formatJobId(outcome.id)), outcome.id);
        } else {
          assert.ok(outcome.error.message.length > 0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("never accepts path or shell characters inside an id", () => {
    fc.assert(
      fc.property(anyId, fc.constantFrom(...FORMS), fc.constantFrom("/", "\\", ";", "|", "&", "$", "`", "'", '"', "\u0000", "%2e", "?", "#"), fc.nat({ max: 30 }), (id, form, bad, at) => {
        const text = formatJobId(id, form);
        const pos = Math.min(at, text.length - 1) + 1; // inside or at the end, never only a prefix
        assert.ok("error" in parseOutcome(text.slice(0, pos) + bad + text.slice(pos)));
      }),
    );
  });

  it("formatJobId refuses values that are not unsigned 64-bit integers", () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ max: -1n }), fc.bigInt({ min: MAX_ID + 1n, max: 1n << 70n })), (bad) => {
        assert.throws(() => formatJobId(bad), JobIdError);
      }),
    );
  });
});
