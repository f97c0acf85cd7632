// The submit page checks a job in the browser before sending it. Its messages must be the
// server's own: each case is checked by the page's code and by the running sidecar, and both
// must give the same messages in the same order.
import { strict as assert } from "node:assert";
import { SubmitFormValues, checkSubmit } from "../../sidecar/web/browser/submit-form";
import { startStack, type Stack } from "./harness";

const blank: SubmitFormValues = {
  command: "", name: "", num_tasks: "", cores_per_task: "", gpus_per_task: "", num_nodes: "",
  runtime: "", workdir: "", option_flags: "", envars: "", exclusive: false,
};

/** The server's messages from a 400 ({Message} or {Message, Errors}) or a 422 ({detail: [{loc, msg}]}). */
function serverMessages(body: { Message?: string; Errors?: string[]; detail?: Array<{ loc: string[]; msg: string }> }): string[] {
  if (body.Errors) return body.Errors;
  if (body.detail) return body.detail.map((d) => `${d.loc[1]}: ${d.msg}`);
  return [String(body.Message)];
}

describe("web: submit checks match the server", function () {
  this.timeout(15_000);
  let stack: Stack;
  before(async () => {
    stack = await startStack({ auth: false });
  });
  after(async () => stack?.close());

  // The stack's server: as many nodes as the broker has (4 for the test broker), FLUX_HAS_GPUS unset.
  const limits = { numberNodes: 4, hasGpus: false };
  before(() => {
    limits.numberNodes = stack.broker.size;
  });
  const cases: Array<[string, Partial<SubmitFormValues>]> = [
    ["no command", { command: "  " }],
    ["too many nodes", { command: "hostname", num_nodes: "99" }],
    ["an option key with -o", { command: "hostname", option_flags: "-ompi=noodles" }],
    ["GPUs on a server without", { command: "hostname", gpus_per_task: "1" }],
    ["a negative runtime", { command: "hostname", runtime: "-3" }],
    ["counts below one", { command: "hostname", num_tasks: "0", cores_per_task: "-1", num_nodes: "0" }],
    ["everything at once", { command: "hostname", num_nodes: "99", option_flags: "-ompi=x,ok=1", gpus_per_task: "0", runtime: "-1", num_tasks: "0" }],
    ["a count that is not a number", { command: "hostname", num_tasks: "two" }],
  ];

  for (const [title, values] of cases) {
    it(`gives the server's messages for ${title}`, async () => {
      const { body, errors } = checkSubmit({ ...blank, ...values }, limits);
      assert.ok(errors.length > 0, "the page rejects it");
      // What the server gets had the page not checked: the typed fields, raw text where it is not a number.
      const sent: Record<string, unknown> = { ...body };
      for (const [key, value] of Object.entries(values)) if (!(key in body) && key !== "command") sent[key] = value;
      const res = await fetch(`${stack.url}/v1/jobs/submit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...sent, command: body.command }),
      });
      assert.ok(res.status === 400 || res.status === 422, `status ${res.status}`);
      assert.deepEqual(errors.map((e) => e.message), serverMessages(await res.json()));
    });
  }

  it("gives the server's message for environment lines that are not NAME=value", async () => {
    const { errors } = checkSubmit({ ...blank, command: "hostname", envars: "JUSTANAME" }, limits);
    const res = await fetch(`${stack.url}/v1/jobs/submit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "hostname", envars: ["JUSTANAME"] }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(errors.map((e) => e.message), serverMessages(await res.json()));
  });

  it("gives the server's message for a command beside a batch script", async () => {
    const { errors } = checkSubmit({ ...blank, command: "hostname", script: true }, limits);
    const res = await fetch(`${stack.url}/v1/jobs/submit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "hostname", script: "#!/bin/sh\ntrue\n" }),
    });
    assert.equal(res.status, 422);
    assert.deepEqual(errors.map((e) => e.message), serverMessages(await res.json()));
    assert.deepEqual(checkSubmit({ ...blank, script: true }, limits).errors, [], "a script alone needs no command");
  });

  it("sends a body the server accepts when the page finds nothing wrong", async () => {
    const { body, errors } = checkSubmit(
      { ...blank, command: "true", num_tasks: "2", cores_per_task: "1", num_nodes: "2", runtime: "60", exclusive: true, option_flags: "cpu-affinity=off", envars: "A=1" },
      limits,
    );
    assert.deepEqual(errors, []);
    const res = await fetch(`${stack.url}/v1/jobs/submit`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, await res.text());
  });
});
