import assert from "node:assert/strict";
import fc from "fast-check";
import { HostlistError, compressHostlist, expandHostlist } from "../../sidecar/flux/hostlist";
import { IdsetError, formatIdset, parseIdset } from "../../sidecar/flux/idset";

describe("flux hostlist (RFC 29)", () => {
  // the RFC's test vectors
  const vectors: Array<[string, string]> = [
    ["", ""],
    ["foox,fooy,fooz", "foox,fooy,fooz"],
    ["[1-3,5-6]", "1,2,3,5,6"],
    ["foo[1-5]", "foo1,foo2,foo3,foo4,foo5"],
    ["foo[0-4]-eth2", "foo0-eth2,foo1-eth2,foo2-eth2,foo3-eth2,foo4-eth2"],
    ["foo1,foo1,foo1", "foo1,foo1,foo1"],
    ["[00-02]", "00,01,02"],
    ["[00-2]", "00,01,02"],
    ["foo[1,1,2,1]", "foo1,foo1,foo2,foo1"],
  ];
  for (const [input, expected] of vectors) {
    it(`expands "${input}"`, () => assert.deepEqual(expandHostlist(input), expected === "" ? [] : expected.split(",")));
  }

  it("expands MiniCluster and multi-broker forms", () => {
    assert.deepEqual(expandHostlist("flux-sample-[0-3]"), ["flux-sample-0", "flux-sample-1", "flux-sample-2", "flux-sample-3"]);
    assert.deepEqual(expandHostlist("vm,vm"), ["vm", "vm"]);
    assert.deepEqual(expandHostlist("a[8-10] b\tc"), ["a8", "a9", "a10", "b", "c"]);
    // libhostlist pads each element by its own lower bound
    assert.deepEqual(expandHostlist("n[01-02,5]"), ["n01", "n02", "n5"]);
  });

  for (const bad of ["foo[1-", "foo]", "foo[3-1]", "foo[a]", "foo[1][2]"]) {
    it(`rejects "${bad}"`, () => assert.throws(() => expandHostlist(bad), HostlistError));
  }

  it("compresses like libhostlist", () => {
    assert.equal(compressHostlist(["flux-sample-0", "flux-sample-1", "flux-sample-2", "flux-sample-3"]), "flux-sample-[0-3]");
    assert.equal(compressHostlist(["foo1", "foo2", "foo3", "foo5", "bar"]), "foo[1-3,5],bar");
    assert.equal(compressHostlist(["vm", "vm"]), "vm,vm");
    assert.equal(compressHostlist(["node09", "node10", "node11"]), "node[09-11]");
    assert.equal(compressHostlist(["n9", "n10"]), "n[9-10]");
    assert.equal(compressHostlist(["solo1"]), "solo1");
    assert.equal(compressHostlist([]), "");
  });

  it("expand(compress(hosts)) gives the hosts back, in order", () => {
    const host = fc.tuple(fc.constantFrom("n", "node-", "flux-sample-", "x"), fc.nat({ max: 120 }), fc.constantFrom(0, 2, 3)).map(
      ([prefix, n, pad]) => `${prefix}${String(n).padStart(pad, "0")}`,
    );
    fc.assert(fc.property(fc.array(host, { maxLength: 30 }), (hosts) => assert.deepEqual(expandHostlist(compressHostlist(hosts)), hosts)), { numRuns: 1000 });
  });
});

describe("flux idset (RFC 22)", () => {
  it("parses ranges, singletons, brackets and the empty set", () => {
    assert.deepEqual(parseIdset("1-3,5-6,42"), [1, 2, 3, 5, 6, 42]);
    assert.deepEqual(parseIdset("[0-1]"), [0, 1]);
    assert.deepEqual(parseIdset("7"), [7]);
    assert.deepEqual(parseIdset(""), []);
    assert.deepEqual(parseIdset("[]"), []);
  });

  it("formats canonically", () => {
    assert.equal(formatIdset([1, 2, 3, 5, 6, 42]), "1-3,5-6,42");
    assert.equal(formatIdset([3, 1, 2, 2]), "1-3");
    assert.equal(formatIdset([]), "");
  });

  for (const bad of ["a", "1-", "3-1", "1,,2", "-1", "1.5"]) {
    it(`rejects "${bad}"`, () => assert.throws(() => parseIdset(bad), IdsetError));
  }

  it("round-trips any set", () => {
    fc.assert(fc.property(fc.uniqueArray(fc.nat({ max: 500 })), (ids) => assert.deepEqual(parseIdset(formatIdset(ids)), [...ids].sort((a, b) => a - b))));
  });
});
