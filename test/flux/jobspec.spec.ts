import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_JOB_ENVIRONMENT, JobspecError, S_IFREG, buildBatchJobspec, buildJobspec, fileref, parseDuration, splitCommand, type Jobspec, type JobspecOptions } from "../../sidecar/flux/jobspec";

const core = (count = 1) => ({ type: "core", count });

describe("flux jobspec (JobspecV1.from_command)", () => {
  it("builds the minimal jobspec: one slot, one core, duration 0, a PATH-only environment", () => {
    assert.deepEqual(buildJobspec({ command: ["hostname"] }), {
      resources: [{ type: "slot", count: 1, with: [core()], label: "task" }],
      tasks: [{ command: ["hostname"], slot: "task", count: { per_slot: 1 } }],
      attributes: { system: { duration: 0, environment: { ...DEFAULT_JOB_ENVIRONMENT } } },
      version: 1,
    });
  });

  // reference §4.3, verified against the 0.88 Python bindings
  it("n=4,N=2 → two nodes of two slots, per_slot 1", () => {
    const spec = buildJobspec({ command: "true", numTasks: 4, numNodes: 2 });
    assert.deepEqual(spec.resources, [{ type: "node", count: 2, with: [{ type: "slot", count: 2, with: [core()], label: "task" }] }]);
    assert.deepEqual(spec.tasks[0].count, { per_slot: 1 });
  });

  it("n=5,N=2 → slot count 3 and total 5", () => {
    const spec = buildJobspec({ command: "true", numTasks: 5, numNodes: 2 });
    assert.equal(spec.resources[0].with![0].count, 3);
    assert.deepEqual(spec.tasks[0].count, { total: 5 });
  });

  it("n=2,N=2,exclusive → the node vertex is exclusive", () => {
    const spec = buildJobspec({ command: "true", numTasks: 2, numNodes: 2, exclusive: true });
    assert.deepEqual(spec.resources[0], { type: "node", count: 2, exclusive: true, with: [{ type: "slot", count: 1, with: [core()], label: "task" }] });
  });

  it("n=2,g=1 → a gpu after the core; g=0 adds none", () => {
    assert.deepEqual(buildJobspec({ command: "true", numTasks: 2, gpusPerTask: 1 }).resources, [
      { type: "slot", count: 2, with: [core(), { type: "gpu", count: 1 }], label: "task" },
    ]);
    assert.deepEqual(buildJobspec({ command: "true", gpusPerTask: 0 }).resources[0].with, [core()]);
  });

  it("puts duration, cwd, environment, name, shell options and attributes where from_command does", () => {
    const spec = buildJobspec({
      command: ["app"],
      duration: "1m",
      cwd: "/work",
      environment: { A: "1" },
      name: "myjob",
      shellOptions: { "output.stdout.label": true, rlimit: { nofile: 100 } },
      attributes: { user: "alice", "user.project": "x", "attributes.system.queue": "batch" },
    });
    assert.deepEqual(spec.attributes, {
      system: {
        duration: 60,
        environment: { A: "1" },
        cwd: "/work",
        job: { name: "myjob" },
        shell: { options: { output: { stdout: { label: true } }, rlimit: { nofile: 100 } } },
        user: "alice",
        queue: "batch",
      },
      user: { project: "x" },
    });
  });

  it("parses Flux Standard Durations like flux.util.parse_fsd", () => {
    const cases: Array<[string, number]> = [["30", 30], ["1.5s", 1.5], ["1m", 60], ["2h", 7200], ["1d", 86400], ["500ms", 0.5], ["0", 0], [" 2 ", 2], ["1e1s", 10]];
    for (const [fsd, seconds] of cases) assert.equal(parseDuration(fsd), seconds, fsd);
    for (const fsd of ["", "abc", "1x", "-1s", "m", "nan"]) assert.throws(() => parseDuration(fsd), /^JobspecError: invalid Flux standard duration$/, fsd);
    assert.equal(parseDuration("inf"), Infinity);
  });

  const invalid: Array<[string, JobspecOptions, string]> = [
    ["zero tasks", { command: "true", numTasks: 0 }, "task count must be a integer >= 1"],
    ["fractional tasks", { command: "true", numTasks: 1.5 }, "task count must be a integer >= 1"],
    ["zero cores", { command: "true", coresPerTask: 0 }, "cores per task must be an integer >= 1"],
    ["negative gpus", { command: "true", gpusPerTask: -1 }, "gpus per task must be an integer >= 0"],
    ["zero nodes", { command: "true", numNodes: 0 }, "node count must be an integer >= 1 (if set)"],
    ["more nodes than tasks", { command: "true", numTasks: 2, numNodes: 3 }, "node count must not be greater than task count"],
    ["exclusive without nodes", { command: "true", exclusive: true }, "exclusive can only be set with a node count"],
    ["empty argv", { command: [] }, "command array cannot have length of zero"],
    ["blank command string", { command: "  " }, "command array cannot have length of zero"],
    ["non-string argv", { command: ["a", 1 as unknown as string] }, "command must be a list of strings"],
    ["unbalanced quote", { command: "echo 'a" }, "No closing quotation"],
    ["trailing backslash", { command: "echo a\\" }, "No escaped character"],
    ["trailing backslash in double quotes", { command: 'echo "a\\' }, "No escaped character"],
    ["negative duration", { command: "true", duration: -1 }, "duration must not be negative"],
    ["infinite duration", { command: "true", duration: Infinity }, "duration must be a normal, finite value"],
    ["infinite FSD", { command: "true", duration: "inf" }, "duration must be a normal, finite value"],
    ["bad FSD", { command: "true", duration: "soon" }, "invalid Flux standard duration"],
    ["boolean duration", { command: "true", duration: true as unknown as number }, "duration must be an int, float, string, or timedelta"],
    ["environment not a mapping", { command: "true", environment: [] as unknown as Record<string, string> }, "environment must be a mapping"],
    ["non-string cwd", { command: "true", cwd: 5 as unknown as string }, "cwd must be a string"],
    ["duration overridden by a string attribute", { command: "true", attributes: { duration: "1h" } }, "attributes.system.duration must be a number"],
    ["prototype key", { command: "true", shellOptions: { "__proto__.x": 1 } }, 'invalid attribute key "system.shell.options.__proto__.x": "__proto__" is not allowed'],
  ];
  for (const [what, opts, message] of invalid) {
    it(`rejects ${what}: "${message}"`, () => {
      assert.throws(() => buildJobspec(opts), (err: unknown) => err instanceof JobspecError && err.message === message);
    });
  }

  describe("splitCommand (shlex.split)", () => {
    const cases: Array<[string, string[]]> = [
      ["echo hello world", ["echo", "hello", "world"]],
      ["  spaced\t out\n", ["spaced", "out"]],
      [`sh -c 'echo "$HOME"; exit 3'`, ["sh", "-c", 'echo "$HOME"; exit 3']],
      [`a "b c" d`, ["a", "b c", "d"]],
      [`"a\\"b" 'c\\d'`, ['a"b', "c\\d"]],
      [`"x\\$y"`, ["x\\$y"]],
      [`a\\ b`, ["a b"]],
      [`''`, [""]],
      [`a""b`, ["ab"]],
      [`# not a comment`, ["#", "not", "a", "comment"]],
      [`héllo ✓`, ["héllo", "✓"]],
      ["a\u00a0b\vc", ["a\u00a0b\vc"]], // only space, tab, CR and LF separate words
    ];
    for (const [input, words] of cases) it(`splits ${JSON.stringify(input)}`, () => assert.deepEqual(splitCommand(input), words));
  });
});

/** Jobspecs made by flux-core's own Python bindings (see test/fixtures/flux/jobspec/generate.py). */
type PythonCase = { name: string; args: Record<string, unknown>; jobspec: Record<string, unknown> };
function pythonCases(version: string): { no_shebang_error: string; cases: PythonCase[] } {
  const file = path.join(__dirname, "..", "fixtures", "flux", "jobspec", version, "batch-and-files.json");
  return JSON.parse(fs.readFileSync(file, "utf8")) as { no_shebang_error: string; cases: PythonCase[] };
}

/** Our jobspec without the environment (the generator drops Python's, which is its own os.environ). */
function withoutEnvironment(spec: Jobspec): unknown {
  const copy = JSON.parse(JSON.stringify(spec)) as { attributes: { system: Record<string, unknown> } };
  delete copy.attributes.system.environment;
  return copy;
}

for (const version of ["0.55", "0.88"]) {
  describe(`flux jobspec files and batch, as flux-core ${version}'s Python bindings build them`, () => {
    const fixture = pythonCases(version);
    const byName = (name: string) => fixture.cases.find((c) => c.name === name)!;

    for (const name of ["batch-default", "batch-N2-args", "batch-n4-c2", "batch-broker-opts"]) {
      it(`from_batch_command: ${name}`, () => {
        const a = byName(name).args as { script: string; jobname: string; args?: string[]; num_slots?: number; cores_per_slot?: number; num_nodes?: number; exclusive?: boolean; broker_opts?: string[] };
        const spec = buildBatchJobspec({
          script: a.script,
          name: a.jobname,
          args: a.args,
          numSlots: a.num_slots,
          coresPerSlot: a.cores_per_slot,
          numNodes: a.num_nodes,
          exclusive: a.exclusive,
          brokerOpts: a.broker_opts,
          fluxVersion: `${version}.0`,
        });
        assert.deepEqual(withoutEnvironment(spec), byName(name).jobspec);
      });
    }

    it("add_file: utf-8 text, base64, a JSON object and an executable, modes with S_IFREG", () => {
      const spec = buildJobspec({
        command: ["cat", "{{tmpdir}}/in.txt"],
        numTasks: 4,
        numNodes: 4,
        files: {
          "in.txt": fileref("line one\nline two\n"),
          "data/blob.bin": fileref("AAEC/w==", 0o644, "base64"),
          "conf.json": { mode: S_IFREG | 0o600, data: { a: [1, 2] } },
          "run.sh": fileref("#!/bin/sh\necho hi\n", 0o755),
        },
      });
      assert.deepEqual(withoutEnvironment(spec), byName("files").jobspec);
    });

    it("a script without #! is refused with Python's message", () => {
      assert.throws(() => buildBatchJobspec({ script: "echo no shebang", name: "bad" }), (err: Error) => err instanceof JobspecError && err.message === fixture.no_shebang_error);
    });
  });
}

describe("flux batch jobspec: sidecar rules", () => {
  it("keeps user files beside the script and refuses a user file named script", () => {
    const spec = buildBatchJobspec({ script: "#!/bin/sh\n", files: { "in.txt": fileref("x") } });
    assert.deepEqual(Object.keys(spec.attributes.system.files as object), ["in.txt", "script"]);
    assert.throws(() => buildBatchJobspec({ script: "#!/bin/sh\n", files: { script: fileref("x") } }), /reserved/);
  });

  it("names the job batch unless told otherwise, and adds exit-timeout only for 0.88 brokers", () => {
    const spec = buildBatchJobspec({ script: "#!/bin/sh\n", fluxVersion: "0.55.0" });
    assert.deepEqual(spec.attributes.system.job, { name: "batch" });
    assert.equal((spec.attributes.system.shell as { options: Record<string, unknown> }).options["exit-timeout"], undefined);
    const newer = buildBatchJobspec({ script: "#!/bin/sh\n", fluxVersion: "0.88.0", name: "x.sh" });
    assert.equal((newer.attributes.system.shell as { options: Record<string, unknown> }).options["exit-timeout"], "none");
    assert.deepEqual(newer.attributes.system.job, { name: "x.sh" });
  });

  it("a file named __proto__ stays an ordinary key of files", () => {
    const files = JSON.parse('{"__proto__": {"mode": 33152, "data": "x", "encoding": "utf-8"}}') as Record<string, ReturnType<typeof fileref>>;
    const spec = buildJobspec({ command: ["true"], files });
    assert.deepEqual(Object.keys(spec.attributes.system.files as object), ["__proto__"]);
    assert.equal(JSON.stringify(spec.attributes.system.files), '{"__proto__":{"mode":33152,"data":"x","encoding":"utf-8"}}');
  });
});
