import assert from "node:assert/strict";
import { OutputDecoder, parseEventlog, type OutputEvent } from "../../sidecar/flux/services/job-info";
import { summarizeResources } from "../../sidecar/flux/services/resource";

const R = (rlite: Array<{ rank: string; children: Record<string, string> }>, nodelist?: string[]) => ({
  version: 1,
  execution: { R_lite: rlite, ...(nodelist ? { nodelist } : {}), starttime: 0, expiration: 0 },
});

describe("flux resource status summary", () => {
  it("derives up/down/allocated/free nodes and core counts (4 nodes, 1 down, 1 busy)", () => {
    const summary = summarizeResources({
      all: R([{ rank: "0-3", children: { core: "0-3", gpu: "0" } }], ["flux-sample-[0-3]"]),
      down: R([{ rank: "3", children: { core: "0-3", gpu: "0" } }], ["flux-sample-3"]),
      allocated: R([{ rank: "1", children: { core: "0-1" } }], ["flux-sample-1"]),
    });
    assert.deepEqual(summary.up, ["flux-sample-0", "flux-sample-1", "flux-sample-2"]);
    assert.deepEqual(summary.down, ["flux-sample-3"]);
    assert.deepEqual(summary.allocated, ["flux-sample-1"]);
    assert.deepEqual(summary.free, ["flux-sample-0", "flux-sample-2"]);
    assert.deepEqual(summary.cores, { total: 16, up: 12, allocated: 2 });
    assert.deepEqual(summary.gpus, { total: 4, up: 3, allocated: 0 });
    assert.deepEqual(summary.nodes[1], { rank: 1, hostname: "flux-sample-1", state: "up", allocated: true, cores: 4, coresAllocated: 2, gpus: 1 });
  });

  it("maps hostnames to ranks in ascending order across several R_lite entries and nodelist items", () => {
    const summary = summarizeResources({
      all: R([{ rank: "2-3", children: { core: "0-1" } }, { rank: "0-1", children: { core: "0" } }], ["a,b", "c[7-8]"]),
      down: R([], [""]), // the C producer's empty set
      allocated: { version: 1, execution: { R_lite: [] } }, // the Python scheduler's: no nodelist
    });
    assert.deepEqual(summary.nodes.map((n) => [n.rank, n.hostname, n.cores]), [[0, "a", 1], [1, "b", 1], [2, "c7", 2], [3, "c8", 2]]);
    assert.deepEqual(summary.down, []);
    assert.deepEqual(summary.free, ["a", "b", "c7", "c8"]);
  });
});

describe("flux output decoding (RFC 24)", () => {
  const decodeAll = (lines: string) => {
    const decoder = new OutputDecoder();
    return parseEventlog(lines).map((e) => decoder.decode(e)).filter((e): e is OutputEvent => e !== undefined);
  };

  it("keeps stdout and stderr apart, decodes base64, applies repeat, and reports log and redirect entries", () => {
    const events = decodeAll(
      [
        '{"timestamp":1,"name":"header","context":{"version":1,"encoding":{"stdout":"UTF-8","stderr":"UTF-8"},"count":{"stdout":2,"stderr":2},"options":{}}}',
        '{"timestamp":2,"name":"data","context":{"stream":"stdout","rank":"0","data":"héllo ✓\\n"}}',
        '{"timestamp":2,"name":"data","context":{"stream":"stderr","rank":"1","data":"oops\\n"}}',
        '{"timestamp":3,"name":"data","context":{"stream":"stdout","rank":"0","data":"YWL//go=","encoding":"base64"}}',
        '{"timestamp":3,"name":"data","context":{"stream":"stdout","rank":"0-1","data":"x","repeat":3}}',
        '{"timestamp":4,"name":"log","context":{"rank":0,"level":4,"message":"adjusted cores","component":"shell"}}',
        '{"timestamp":5,"name":"redirect","context":{"stream":"stderr","rank":"0-1","path":"/tmp/err"}}',
        '{"timestamp":6,"name":"data","context":{"stream":"stdout","rank":"0","eof":true}}',
      ].join("\n") + "\n",
    );
    assert.deepEqual(events, [
      { kind: "data", stream: "stdout", rank: "0", data: "héllo ✓\n" },
      { kind: "data", stream: "stderr", rank: "1", data: "oops\n" },
      { kind: "data", stream: "stdout", rank: "0", data: "ab\ufffd\ufffd\n" },
      { kind: "data", stream: "stdout", rank: "0-1", data: "xxx" },
      { kind: "log", rank: 0, level: 4, message: "adjusted cores", component: "shell" },
      { kind: "redirect", stream: "stderr", rank: "0-1", path: "/tmp/err" },
      { kind: "data", stream: "stdout", rank: "0", data: "", eof: true },
    ]);
  });

  it("joins a UTF-8 character split across two base64 chunks of the same rank", () => {
    const check = Buffer.from("✓", "utf8"); // e2 9c 93
    const chunk = (bytes: Buffer) => `{"timestamp":1,"name":"data","context":{"stream":"stdout","rank":"0","data":"${bytes.toString("base64")}","encoding":"base64"}}`;
    const events = decodeAll([chunk(Buffer.from([0xff, check[0]])), chunk(check.subarray(1))].join("\n"));
    assert.deepEqual(events.map((e) => (e.kind === "data" ? e.data : "")).join(""), "\ufffd✓");
  });
});
