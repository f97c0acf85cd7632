import assert from "node:assert/strict";
import fc from "fast-check";
import { parseJson, stringifyJson } from "../../sidecar/flux/json";

describe("flux lossless JSON", () => {
  it("parses integers beyond 2^53 as bigint and safe ones as numbers", () => {
    assert.deepEqual(parseJson('{"id":9007199254740993,"n":5,"t":1795599421.9002614}'), { id: 9007199254740993n, n: 5, t: 1795599421.9002614 });
    assert.deepEqual(parseJson("[18446744073709551615, -9007199254740993]"), [18446744073709551615n, -9007199254740993n]);
  });

  it("keeps long digit runs inside strings as strings", () => {
    assert.deepEqual(parseJson('{"s":"12345678901234567890"}'), { s: "12345678901234567890" });
  });

  it("writes bigint as bare digits and everything else like JSON.stringify", () => {
    assert.equal(stringifyJson({ id: 18446744073709551615n, a: [1, "x", null], b: true }), '{"id":18446744073709551615,"a":[1,"x",null],"b":true}');
    assert.equal(stringifyJson({ a: 1.5 }), '{"a":1.5}');
  });

  it("round-trips 64-bit ids inside objects", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.string(), (id, s) => {
        const value = parseJson(stringifyJson({ id, s })) as { id: unknown; s: string };
        assert.equal(BigInt(value.id as bigint | number), id);
        assert.equal(typeof value.id, id > BigInt(Number.MAX_SAFE_INTEGER) ? "bigint" : "number");
        assert.equal(value.s, s);
      }),
    );
  });

  it("parses any JSON document exactly: unsafe integers as bigint, wherever they sit, strings untouched", () => {
    const unsafe = fc.bigInt({ min: -(1n << 64n), max: 1n << 64n }).filter((n) => n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER));
    const leaf = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.stringMatching(/^[0-9"\\ .e-]{0,30}$/), // strings that look like numbers, quotes and escapes
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0) && (!Number.isInteger(d) || Number.isSafeInteger(d))),
      unsafe,
      fc.boolean(),
      fc.constant(null),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("tree"), { maxLength: 5 }), fc.dictionary(fc.string(), tie("tree"), { maxKeys: 5, noNullPrototype: true })),
    }));
    fc.assert(fc.property(tree, (value) => assert.deepEqual(parseJson(stringifyJson(value)), value)), { numRuns: 200 });
  });

  it("throws SyntaxError on bad JSON, on both paths", () => {
    assert.throws(() => parseJson("{"), SyntaxError);
    assert.throws(() => parseJson('{"id":12345678901234567890'), SyntaxError);
    assert.throws(() => parseJson('{"id":012345678901234567890}'), SyntaxError); // leading zero stays invalid
  });
});
