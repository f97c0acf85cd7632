import assert from "node:assert/strict";
import fc from "fast-check";
import { JobIdError, formatJobId, jobIdFromJson, parseJobId } from "../../sidecar/flux/ids";

const MAX = (1n << 64n) - 1n;

describe("flux job ids", () => {
  it("matches the RFC 19 example in every form", () => {
    const id = 6731191091817518n;
    assert.equal(formatJobId(id, "f58"), "ƒuZZybuNNy");
    assert.equal(formatJobId(id, "f58plain"), "fuZZybuNNy");
    assert.equal(parseJobId("ƒuZZybuNNy"), id);
    assert.equal(parseJobId("fuZZybuNNy"), id);
    assert.equal(parseJobId("6731191091817518"), id);
  });

  it("formats the first job of a fresh instance (356 ms << 24)", () => {
    const id = 5972688896n;
    assert.equal(formatJobId(id), "5972688896");
    assert.equal(formatJobId(id, "hex"), "0x164000000");
    assert.equal(formatJobId(id, "dothex"), "0000.0001.6400.0000");
    assert.equal(formatJobId(id, "f58"), "ƒA6nbKm"); // as `flux job id --to=f58` prints it
    assert.equal(parseJobId("0000.0001.6400.0000"), id);
    assert.equal(parseJobId("job.0000.0001.6400.0000"), id);
    assert.equal(parseJobId("0x164000000"), id);
    assert.equal(parseJobId("  5972688896"), id);
  });

  it("encodes 0 as ƒ1 and the largest id exactly", () => {
    assert.equal(formatJobId(0n, "f58"), "ƒ1");
    assert.equal(parseJobId("ƒ1"), 0n);
    assert.equal(formatJobId(MAX, "f58"), "ƒjpXCZedGfVQ"); // as `flux job id --to=f58` prints it
    assert.equal(parseJobId("ƒjpXCZedGfVQ"), MAX);
    assert.equal(formatJobId(MAX, "dothex"), "ffff.ffff.ffff.ffff");
    assert.equal(parseJobId("18446744073709551615"), MAX);
  });

  it("keeps ids above 2^53 exact", () => {
    const id = (1n << 53n) + 1n; // not representable as a double
    assert.equal(parseJobId(formatJobId(id)), id);
    assert.equal(formatJobId(parseJobId("9007199254740993")), "9007199254740993");
  });

  it("round-trips every form for any 64-bit id", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX }), fc.constantFrom("dec", "f58", "f58plain", "hex", "dothex" as const), (id, form) => {
        assert.equal(parseJobId(formatJobId(id, form)), id);
      }),
      { numRuns: 2000 },
    );
  });

  const bad: Array<[string, RegExp]> = [
    ["", /invalid job id/],
    ["abc", /invalid job id/],
    ["-5", /mnemonic/],
    ["12.5", /invalid dothex/],
    ["0000.0001.6400", /invalid dothex/],
    ["0x", /invalid hex/],
    ["0x10000000000000000", /invalid hex/],
    ["18446744073709551616", /does not fit in 64 bits/],
    ["ƒ0OIl", /not a base58 digit/],
    ["f" + "2".repeat(13), /invalid f58/], // more than 12 base58 digits
    ["ƒ" + "2".repeat(13), /invalid f58/],
    ["f" + "z".repeat(12), /does not fit in 64 bits/],
    ["12 34", /invalid job id/],
  ];
  for (const [text, pattern] of bad) {
    it(`rejects "${text}"`, () => {
      assert.throws(() => parseJobId(text), (err: unknown) => err instanceof JobIdError && pattern.test(err.message));
    });
  }

  it("refuses to format values that are not 64-bit unsigned", () => {
    assert.throws(() => formatJobId(-1n), JobIdError);
    assert.throws(() => formatJobId(MAX + 1n), JobIdError);
  });

  it("reads ids from JSON numbers and bigints, never from strings", () => {
    assert.equal(jobIdFromJson(5972688896), 5972688896n);
    assert.equal(jobIdFromJson(MAX), MAX);
    assert.throws(() => jobIdFromJson("5972688896"), JobIdError);
    assert.throws(() => jobIdFromJson(1.5), JobIdError);
  });
});
