/**
 * Property tests of the jobspec builder: the resource shapes of Python's JobspecV1.from_command
 * for every valid count combination, argv passed through untouched (never to a shell), and
 * only JobspecError for invalid input.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildJobspec, DEFAULT_JOB_ENVIRONMENT, JobspecError, splitCommand, type JobspecOptions } from "../../../sidecar/flux/jobspec";

/** POSIX shell quoting as Python's shlex.quote: the inverse the splitter must honour. */
function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9@%+=:,./_-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}

const SHELL_METACHARACTERS = [";", "|", "&", "&&", "||", "$(id)", "`id`", ">", "<", ">>", "*", "?", "~", "#", "!", "\n", "$HOME", "${IFS}", "'", '"', "\\"];
const argWord = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom(...SHELL_METACHARACTERS), fc.constant(""));
const argv = fc.array(argWord, { minLength: 1, maxLength: 8 });

/** Valid from_command counts: n >= 1, c >= 1, g >= 0, 1 <= N <= n, exclusive only with N. */
const counts = fc
  .record({
    numTasks: fc.integer({ min: 1, max: 256 }),
    coresPerTask: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
    gpusPerTask: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
    nodeFraction: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    exclusive: fc.boolean(),
  })
  .map(({ numTasks, coresPerTask, gpusPerTask, nodeFraction, exclusive }) => {
    const numNodes = nodeFraction === undefined ? undefined : Math.max(1, Math.ceil(nodeFraction * numTasks));
    return { numTasks, coresPerTask, gpusPerTask, numNodes, exclusive: numNodes !== undefined && exclusive };
  });

function buildOutcome(opts: JobspecOptions): { error?: JobspecError } {
  try {
    buildJobspec(opts);
    return {};
  } catch (err) {
    if (!(err instanceof JobspecError)) throw new Error(`buildJobspec threw ${String(err)} for ${JSON.stringify(opts)}`);
    return { error: err };
  }
}

describe("reliability: jobspec builder properties", () => {
  it("splitCommand inverts shell quoting for any argv, metacharacters included", () => {
    fc.assert(
      fc.property(argv, (words) => assert.deepEqual(splitCommand(words.map(shellQuote).join(" ")), words)),
      { numRuns: 2000 },
    );
  });

  it("splits only on shlex's whitespace (space, tab, CR, LF), never inside other Unicode spaces", () => {
    const otherSpace = fc.constantFrom("\u00a0", "\u2028", "\u000b", "\u000c", "\u3000", "\ufeff");
    const plain = fc.stringMatching(/^[a-z0-9]{1,6}$/);
    fc.assert(
      fc.property(plain, otherSpace, plain, fc.constantFrom(" ", "\t", "\r", "\n"), (a, space, b, sep) => {
        assert.deepEqual(splitCommand(`${a}${space}${b}${sep}${a}`), [`${a}${space}${b}`, a]);
      }),
    );
  });

  it("passes the command through as argv: tasks[0].command is exactly the split words, never a shell", () => {
    fc.assert(
      fc.property(argv, fc.boolean(), (words, asString) => {
        const spec = buildJobspec({ command: asString ? words.map(shellQuote).join(" ") : words });
        assert.deepEqual(spec.tasks[0].command, words);
      }),
    );
  });

  it("builds from_command's resource tree for every valid count combination", () => {
    fc.assert(
      fc.property(counts, ({ numTasks, coresPerTask, gpusPerTask, numNodes, exclusive }) => {
        const spec = buildJobspec({ command: ["true"], numTasks, coresPerTask, gpusPerTask, numNodes, exclusive });
        const leaves = [{ type: "core", count: coresPerTask ?? 1 }, ...(gpusPerTask ? [{ type: "gpu", count: gpusPerTask }] : [])];
        assert.deepEqual(Object.keys(spec).sort(), ["attributes", "resources", "tasks", "version"]);
        assert.equal(spec.version, 1);
        assert.equal(spec.resources.length, 1);
        if (numNodes === undefined) {
          assert.deepEqual(spec.resources[0], { type: "slot", count: numTasks, with: leaves, label: "task" });
          assert.deepEqual(spec.tasks[0].count, { per_slot: 1 });
        } else {
          const perNode = Math.ceil(numTasks / numNodes);
          assert.deepEqual(spec.resources[0], {
            type: "node",
            count: numNodes,
            ...(exclusive ? { exclusive: true } : {}),
            with: [{ type: "slot", count: perNode, with: leaves, label: "task" }],
          });
          assert.deepEqual(spec.tasks[0].count, numTasks % numNodes === 0 ? { per_slot: 1 } : { total: numTasks });
          assert.ok(perNode * numNodes >= numTasks, "enough slots for every task");
        }
        assert.equal(spec.tasks[0].slot, "task");
        assert.equal(typeof spec.attributes.system.duration, "number");
      }),
      { numRuns: 1000 },
    );
  });

  it("serialises to JSON without loss (no undefined, functions or bigint inside)", () => {
    fc.assert(
      fc.property(counts, argv, fc.dictionary(fc.string({ minLength: 1 }), fc.string()), (c, words, environment) => {
        const spec = buildJobspec({ command: words, ...c, environment, cwd: "/tmp", name: words[0] });
        assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
      }),
    );
  });

  it("gives the job exactly the environment it was handed, and only PATH when none was", () => {
    const canaryName = "RELIABILITY_CANARY_SECRET";
    const canary = `canary-${process.pid}-${Date.now()}`;
    process.env[canaryName] = canary;
    try {
      fc.assert(
        fc.property(fc.option(fc.dictionary(fc.string({ minLength: 1 }), fc.string()), { nil: undefined }), (environment) => {
          const spec = buildJobspec({ command: ["env"], environment });
          // entries, not objects: the generator also makes null-prototype and "__proto__"-keyed maps
          assert.deepEqual(Object.entries(spec.attributes.system.environment as object), Object.entries(environment ?? DEFAULT_JOB_ENVIRONMENT));
          assert.ok(!JSON.stringify(spec).includes(canary), "the builder's own process environment leaked into the job");
        }),
      );
    } finally {
      delete process.env[canaryName];
    }
  });

  it("rejects invalid counts with from_command's messages", () => {
    const badCount = fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true }), fc.constant(Number.NaN), fc.constant(Infinity));
    const cases: Array<[fc.Arbitrary<JobspecOptions>, RegExp]> = [
      [badCount.map((n) => ({ command: ["true"], numTasks: n })), /^task count must be a integer >= 1$/],
      [badCount.map((c) => ({ command: ["true"], coresPerTask: c })), /^cores per task must be an integer >= 1$/],
      [fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true })).map((g) => ({ command: ["true"], gpusPerTask: g })), /^gpus per task must be an integer >= 0$/],
      [badCount.map((nn) => ({ command: ["true"], numTasks: 4, numNodes: nn })), /^node count must be an integer >= 1 \(if set\)$/],
      [fc.integer({ min: 1, max: 100 }).chain((n) => fc.integer({ min: n + 1, max: n + 1000 }).map((nn) => ({ command: ["true"], numTasks: n, numNodes: nn }))), /^node count must not be greater than task count$/],
      [fc.constant({ command: ["true"], exclusive: true }), /^exclusive can only be set with a node count$/],
      [fc.constantFrom<JobspecOptions>({ command: [] }, { command: "" }, { command: "   " }), /^command array cannot have length of zero$/],
    ];
    for (const [arb, message] of cases) {
      fc.assert(
        fc.property(arb, (opts) => {
          const { error } = buildOutcome(opts);
          assert.ok(error, `accepted ${JSON.stringify(opts)}`);
          assert.match(error.message, message);
        }),
        { numRuns: 200 },
      );
    }
  });

  it("answers any command string with argv or a JobspecError (unbalanced quotes, stray escapes)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z '"\\$;|&]{0,20}$/)), (command) => {
        try {
          const words = splitCommand(command);
          assert.ok(words.every((w) => typeof w === "string"));
        } catch (err) {
          assert.ok(err instanceof JobspecError, String(err));
          assert.match(err.message, /^No (closing quotation|escaped character)$/);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps durations finite and non-negative, refusing anything else with a JobspecError", () => {
    const duration = fc.oneof(
      fc.double(),
      fc.stringMatching(/^-?[0-9.]{0,6}(ms|s|m|h|d)?$/),
      fc.constantFrom("inf", "nan", "-1s", "1e400", "1x", "", "∞"),
    );
    fc.assert(
      fc.property(duration, (d) => {
        try {
          const spec = buildJobspec({ command: ["true"], duration: d });
          const seconds = spec.attributes.system.duration;
          assert.ok(Number.isFinite(seconds) && seconds >= 0, `duration ${String(d)} became ${seconds}`);
        } catch (err) {
          assert.ok(err instanceof JobspecError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("no shell option or attribute key can write to Object.prototype (user option_flags reach these keys)", () => {
    const segment = fc.constantFrom("__proto__", "constructor", "prototype", "polluted", "x");
    const keyPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join("."));
    fc.assert(
      fc.property(keyPath, fc.boolean(), (key, asAttribute) => {
        const opts: JobspecOptions = { command: ["true"] };
        if (asAttribute) opts.attributes = { [key]: "yes" };
        else opts.shellOptions = { [key]: "yes" };
        try {
          buildJobspec(opts);
        } catch (err) {
          assert.ok(err instanceof JobspecError, String(err));
        } finally {
          const polluted = Object.getOwnPropertyNames(Object.prototype).filter((name) => name === "polluted" || name === "x");
          for (const name of polluted) delete (Object.prototype as Record<string, unknown>)[name];
          assert.deepEqual(polluted, [], `key ${JSON.stringify(key)} polluted Object.prototype`);
        }
      }),
    );
  });
});
