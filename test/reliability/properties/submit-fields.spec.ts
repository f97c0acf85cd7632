/**
 * Property tests of the submit-field parsers: option_flags ("k=v,k2=v2" from the API, shell-split
 * "-okey=value" from FLUX_OPTION_FLAGS), integer and boolean coercion. Any input ends in parsed
 * values or a clear ApiError/ConfigError, never another exception.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, parseOptionFlags } from "../../../sidecar/config";
import { ApiError } from "../../../sidecar/api/errors";
import { FluxApiService } from "../../../sidecar/api/service";
import { parseSubmitRequest, type SubmitRequest } from "../../../sidecar/api/submit-fields";
import { type FluxClient, unsafeKeyPart } from "../../../sidecar/flux";

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}

/** Option keys and values that survive the "k=v,k2=v2" syntax: no ",", no "=" in keys, keys non-empty. */
const optionKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !/[,=]/.test(k));
const optionValue = fc.string({ maxLength: 12 }).filter((v) => !v.includes(","));
const optionDict = fc.dictionary(optionKey, optionValue, { maxKeys: 6, noNullPrototype: true });

function submitOutcome(query: Record<string, string>): { req?: SubmitRequest; error?: ApiError } {
  try {
    return { req: parseSubmitRequest(query, { kind: "none" }) };
  } catch (err) {
    if (!(err instanceof ApiError)) throw new Error(`parseSubmitRequest threw ${String(err)} for ${JSON.stringify(query)}`);
    return { error: err };
  }
}

/** The service's validation needs no broker when the node count is configured. */
const service = new FluxApiService({} as FluxClient, { numberNodes: 4, hasGpus: false, optionFlags: {}, jobPath: "/usr/bin:/bin" });

describe("reliability: submit field parser properties", () => {
  it("option_flags round-trips any flag mapping written as k=v,k2=v2", () => {
    fc.assert(
      fc.property(optionDict, (flags) => {
        const text = Object.entries(flags).map(([k, v]) => `${k}=${v}`).join(",");
        const { req, error } = submitOutcome({ command: "true", option_flags: text });
        assert.equal(error, undefined);
        assert.deepEqual(Object.entries(req!.option_flags ?? {}), Object.entries(flags));
      }),
    );
  });

  it("option_flags skips items without a key or '=' (Python clean_submit_args) and keeps string values", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const { req, error } = submitOutcome({ command: "true", option_flags: text });
        assert.equal(error, undefined);
        for (const [key, value] of Object.entries(req!.option_flags ?? {})) {
          assert.ok(key.length > 0 && !key.includes(",") && !key.includes("="), `key ${JSON.stringify(key)}`);
          assert.equal(typeof value, "string");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("every option key containing -o is refused with the Python message", async () => {
    await fc.assert(
      fc.asyncProperty(optionKey, optionKey, optionValue, async (before, after, value) => {
        const key = `${before}-o${after}`.replace(/[,=]/g, "");
        const req = parseSubmitRequest({ command: "true", option_flags: `${key}=${value}` }, { kind: "none" });
        assert.ok((await service.validate(req)).includes(`Please provide keys without -o, ${key} is invalid.`));
      }),
    );
  });

  it("FLUX_OPTION_FLAGS round-trips shell-quoted -okey=value items", () => {
    const envKey = optionKey.filter((k) => !k.startsWith("-o") && unsafeKeyPart(k) === undefined);
    fc.assert(
      fc.property(fc.dictionary(envKey, fc.string({ maxLength: 12 }), { maxKeys: 6, noNullPrototype: true }), fc.boolean(), (flags, prefixed) => {
        const text = Object.entries(flags).map(([k, v]) => shellQuote(`${prefixed ? "-o" : ""}${k}=${v}`)).join(" ");
        assert.deepEqual(Object.entries(parseOptionFlags(text)), Object.entries(flags));
      }),
    );
  });

  it("FLUX_OPTION_FLAGS refuses option names that would reach Object.prototype, instead of dropping them", () => {
    for (const text of ["-o__proto__=x", "constructor=1", "-ompi.prototype.x=y"]) {
      assert.throws(() => parseOptionFlags(text), (err: unknown) => err instanceof ConfigError && /FLUX_OPTION_FLAGS: shell option .* is not allowed/.test(err.message), text);
    }
  });

  it("option_flags named __proto__ reach the jobspec builder and get a clear 400, not silently dropped", async () => {
    const req = parseSubmitRequest({ command: "true", option_flags: "__proto__=x" }, { kind: "none" });
    assert.deepEqual(Object.keys(req.option_flags ?? {}), ["__proto__"]);
    await assert.rejects(service.submit(req, undefined), (err: unknown) => err instanceof ApiError && err.status === 400 && /__proto__/.test(JSON.stringify(err.body)));
  });

  it("FLUX_OPTION_FLAGS answers any text with flags or one ConfigError naming the variable", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[-o a-z='"\\]{0,16}$/)), (text) => {
        try {
          for (const value of Object.values(parseOptionFlags(text))) assert.equal(typeof value, "string");
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, /^FLUX_OPTION_FLAGS/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("integer fields become safe integers within 2^31-1 or a 422 naming the field", () => {
    const field = fc.constantFrom("num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime");
    const text = fc.oneof(fc.string(), fc.integer().map(String), fc.bigInt().map(String), fc.double().map(String), fc.constantFrom("1e3", "0x10", " 7 ", "+5", "-0", "١٢", "NaN", "Infinity"));
    fc.assert(
      fc.property(field, text, (name, value) => {
        const { req, error } = submitOutcome({ command: "true", [name]: value });
        if (error) {
          assert.equal(error.status, 422);
          const detail = (error.body as { detail: Array<{ loc: string[] }> }).detail;
          assert.deepEqual(detail[0].loc, ["query", name]);
        } else {
          const n = req![name as keyof SubmitRequest];
          if (n === undefined) assert.equal(value, "", "only an empty value may be skipped");
          else assert.ok(typeof n === "number" && Number.isSafeInteger(n) && Math.abs(n) <= 2 ** 31 - 1, `${name}=${String(n)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("boolean fields accept only the documented spellings", () => {
    fc.assert(
      fc.property(fc.constantFrom("exclusive", "is_launcher"), fc.string({ maxLength: 8 }), (name, value) => {
        const { req, error } = submitOutcome({ command: "true", [name]: value });
        const v = value.trim().toLowerCase();
        const known = ["true", "1", "yes", "on", "t", "y", "false", "0", "no", "off", "f", "n"].includes(v);
        if (value === "") assert.equal(error, undefined);
        else if (known) assert.equal(typeof req![name as "exclusive"], "boolean");
        else assert.equal(error?.status, 422);
      }),
      { numRuns: 2000 },
    );
  });
});
