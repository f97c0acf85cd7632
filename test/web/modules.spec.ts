// The page's pure modules, run in Node: lossless JSON, the SSE parser, id and time formatting,
// the jobs list operations and the submit form checks.
import { strict as assert } from "node:assert";
import { parseJsonLossless } from "../../sidecar/web/browser/json";
import { SseParser } from "../../sidecar/web/browser/sse";
import { f58, formatDuration } from "../../sidecar/web/browser/format";
import { JobInfo, pageOf, searchJobs, sortJobs } from "../../sidecar/web/browser/jobs";
import { SubmitFormValues, checkSubmit, parseEnvars, parseOptionFlags } from "../../sidecar/web/browser/submit-form";
import { formatJobId } from "../../sidecar/flux";
import { errorMessage } from "../../sidecar/web/browser/api";
import { safeNext } from "../../sidecar/web/browser/views/login";

describe("web: lossless JSON", () => {
  it("keeps 64-bit ids exact as strings and leaves safe numbers alone", () => {
    const big = "18446744073709551615";
    const value = parseJsonLossless(`{"id": ${big}, "n": 42, "neg": -9007199254740993, "f": 1.5e3, "s": "123456789012345678901"}`);
    assert.deepEqual(value, { id: big, n: 42, neg: "-9007199254740993", f: 1500, s: "123456789012345678901" });
  });

  it("does not touch digits inside strings, including escaped quotes", () => {
    const value = parseJsonLossless(String.raw`["a\"99999999999999999999", 99999999999999999999]`);
    assert.deepEqual(value, ['a"99999999999999999999', "99999999999999999999"]);
  });

  it("still rejects malformed JSON", () => {
    assert.throws(() => parseJsonLossless("{"), SyntaxError);
  });
});

describe("web: SSE parser", () => {
  it("splits events across arbitrary chunk boundaries and line endings", () => {
    const stream = 'event: output\ndata: {"a":1}\n\n: keep-alive\n\nevent: end\r\ndata: {}\r\n\r\n';
    for (let cut = 0; cut <= stream.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.feed(stream.slice(0, cut)), ...parser.feed(stream.slice(cut))];
      assert.deepEqual(events.map((e) => [e.event, e.data]), [["output", '{"a":1}'], ["end", "{}"]], `cut at ${cut}`);
    }
  });

  it("joins multi-line data and defaults the event name to message", () => {
    const events = new SseParser().feed("data: one\ndata:two\n\n");
    assert.deepEqual(events, [{ event: "message", data: "one\ntwo", id: undefined }]);
  });
});

describe("web: formatting", () => {
  it("writes F58 ids the way the Flux client does", () => {
    for (const id of [1n, 57n, 58n, 123456789n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
      assert.equal(f58(id.toString()), formatJobId(id, "f58"));
    }
    assert.equal(f58("not-an-id"), "");
  });

  it("formats durations", () => {
    assert.equal(formatDuration(1.234), "1.2s");
    assert.equal(formatDuration(125), "2m 05s");
    assert.equal(formatDuration(3 * 3600 + 60 * 7), "3h 07m");
    assert.equal(formatDuration(undefined), "");
  });
});

describe("web: jobs list", () => {
  const jobs: JobInfo[] = [
    { id: "18446744073709551000", name: "zeta", state: "INACTIVE", result: "COMPLETED", t_submit: 30, runtime: 5, ntasks: 4 },
    { id: "9007199254740993", name: "alpha", state: "RUN", result: "", t_submit: 10, runtime: 50, ntasks: 1 },
    { id: 42, name: "<img src=x>", state: "SCHED", result: "", t_submit: 20, runtime: 0, ntasks: 2 },
  ];

  it("sorts ids numerically beyond 2^53 and states by lifecycle", () => {
    assert.deepEqual(sortJobs(jobs, "id", "asc").map((j) => String(j.id)), ["42", "9007199254740993", "18446744073709551000"]);
    assert.deepEqual(sortJobs(jobs, "state", "asc").map((j) => j.state), ["SCHED", "RUN", "INACTIVE"]);
    assert.deepEqual(sortJobs(jobs, "t_submit", "desc").map((j) => j.name), ["zeta", "<img src=x>", "alpha"]);
    assert.deepEqual(sortJobs(jobs, "ntasks", "asc").map((j) => j.ntasks), [1, 2, 4]);
  });

  it("searches names, states and ids in both forms, as plain text", () => {
    assert.deepEqual(searchJobs(jobs, "ALP").map((j) => j.name), ["alpha"]);
    assert.deepEqual(searchJobs(jobs, "<img").map((j) => j.id), [42]);
    assert.deepEqual(searchJobs(jobs, f58("9007199254740993")).map((j) => j.name), ["alpha"]);
    assert.deepEqual(searchJobs(jobs, ".*"), []); // not a regex
  });

  it("pages and clamps the page number", () => {
    const items = Array.from({ length: 7 }, (_, i) => i);
    assert.deepEqual(pageOf(items, 2, 3), { items: [3, 4, 5], page: 2, pages: 3, total: 7, first: 4, last: 6 });
    assert.equal(pageOf(items, 99, 3).page, 3);
    assert.deepEqual(pageOf([], 1, 25), { items: [], page: 1, pages: 1, total: 0, first: 0, last: 0 });
  });
});

describe("web: submit form checks", () => {
  const blank: SubmitFormValues = {
    command: "", name: "", num_tasks: "", cores_per_task: "", gpus_per_task: "", num_nodes: "",
    runtime: "", workdir: "", option_flags: "", envars: "", exclusive: false,
  };
  const messages = (values: Partial<SubmitFormValues>, limits = { numberNodes: 4, hasGpus: false }) =>
    checkSubmit({ ...blank, ...values }, limits).errors.map((e) => e.message);

  it("builds the JSON body with typed fields", () => {
    const { body, errors } = checkSubmit(
      { ...blank, command: " echo hi ", num_tasks: "2", runtime: "0", exclusive: true, option_flags: "cpu-affinity=off", envars: "A=1\n# note\nB=x=y\n" },
      {},
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(body, { command: "echo hi", num_tasks: 2, runtime: 0, exclusive: true, option_flags: "cpu-affinity=off", envars: { A: "1", B: "x=y" } });
  });

  it("gives the server's messages", () => {
    assert.deepEqual(messages({}), ["A 'command' is minimally required."]);
    assert.deepEqual(messages({ command: "x", num_nodes: "5" }), ["The server only has 4 nodes, you requested 5"]);
    assert.deepEqual(messages({ command: "x", option_flags: "-ompi=noodles" }), ["Please provide keys without -o, -ompi is invalid."]);
    assert.deepEqual(messages({ command: "x", gpus_per_task: "1" }), ["This server does not support gpus: gpus_per_task cannot be set."]);
    assert.deepEqual(messages({ command: "x", runtime: "-3" }), ["Runtime must be >= 0, found -3"]);
    assert.deepEqual(messages({ command: "x", num_tasks: "0", cores_per_task: "-1" }), ["Parameter num_tasks must be >= 1", "Parameter cores_per_task must be >= 1"]);
    assert.deepEqual(messages({ command: "x", num_tasks: "two" }), ["num_tasks: value is not a valid integer"]);
    assert.deepEqual(messages({ command: "x", envars: "JUSTANAME" }), ["Environment variables must be key/value pairs (dict)"]);
  });

  it("leaves node and GPU limits to the server when they are unknown", () => {
    assert.deepEqual(messages({ command: "x", num_nodes: "500", gpus_per_task: "1" }, {} as never), []);
  });

  it("parses option flags and environment lines like the server", () => {
    assert.deepEqual(parseOptionFlags("a=1,novalue,b=x=y"), { a: "1", b: "x=y" });
    assert.equal(parseEnvars("=nope"), undefined);
  });
});

describe("web: login redirect and error messages", () => {
  it("only returns to pages of this app after logging in", () => {
    assert.equal(safeNext("ui/jobs/9008256068354048"), "ui/jobs/9008256068354048");
    assert.equal(safeNext("ui/jobs?q=alpha&sort=name"), "ui/jobs?q=alpha&sort=name");
    for (const hostile of [null, "", "//evil.example/ui/", "https://evil.example/", "/ui/jobs", "ui/../../etc", "javascript:alert(1)", "ui/jobs\\evil"]) {
      assert.equal(safeNext(hostile), "ui/jobs", String(hostile));
    }
  });

  it("finds the message in every error shape the API uses", () => {
    assert.equal(errorMessage({ detail: "Not authenticated" }, "x"), "Not authenticated");
    assert.equal(errorMessage({ Message: "Invalid submit request", Errors: ["a", "b"] }, "x"), "a b");
    assert.equal(errorMessage({ Message: "There was an issue submitting that job.", Error: "bad" }, "x"), "There was an issue submitting that job. bad");
    assert.equal(errorMessage({ detail: [{ loc: ["query", "num_tasks"], msg: "value is not a valid integer" }] }, "x"), "value is not a valid integer");
    assert.equal(errorMessage(null, "fallback"), "fallback");
  });
});
