/**
 * POST /v1/jobs/submit fields from the query string, a JSON body or a form body, coerced the
 * way FastAPI coerces them. The Python client sends query parameters first and, on its retry
 * after a 401, the same dict as a JSON body; the Python server reads a JSON body as `envars`.
 * Both are accepted: a JSON body with a "command" key is the submit dict, any other object is
 * envars. Pure.
 */
import { ApiError } from "./errors";

export interface SubmitRequest {
  command?: string | string[];
  num_tasks?: number;
  cores_per_task?: number;
  gpus_per_task?: number;
  num_nodes?: number;
  exclusive?: boolean;
  option_flags?: Record<string, string>;
  workdir?: string;
  /** job name (beyond the Python API; the CLI and the web UI send it) */
  name?: string;
  runtime?: number;
  is_launcher?: boolean;
  envars?: Record<string, string>;
  user?: string;
}

export type SubmitBody = { kind: "none" } | { kind: "json"; value: unknown } | { kind: "form"; value: Record<string, unknown> };

type Where = "query" | "body";
type Detail = { loc: [Where, string]; msg: string; type: string };

const INT_FIELDS = ["num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime"] as const;
const BOOL_FIELDS = ["exclusive", "is_launcher"] as const;
const STR_FIELDS = ["workdir", "name", "user"] as const;
/** Larger counts cannot be meant; the bound also keeps them exact in JS numbers. */
const MAX_INT = 2 ** 31 - 1;

const TRUE = new Set(["true", "1", "yes", "on", "t", "y"]);
const FALSE = new Set(["false", "0", "no", "off", "f", "n"]);

function toInt(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
  if (typeof value === "string" && /^\s*[-+]?\d+\s*$/.test(value)) return Number(value);
  return undefined;
}

function toBool(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "number" && (value === 0 || value === 1)) return value === 1;
  if (typeof value === "string") {
    const v = value.trim().toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
  }
  return undefined;
}

/** "k=v,k2=v2" (Python clean_submit_args: items without "=" are skipped) or a JSON object. */
function toOptionFlags(value: unknown): Record<string, string> | undefined {
  if (typeof value === "string") {
    const flags: Record<string, string> = {};
    for (const item of value.split(",")) {
      const eq = item.indexOf("=");
      // Defined, not assigned: a "__proto__" key must reach the jobspec builder (which refuses it), not vanish.
      if (eq > 0) Object.defineProperty(flags, item.slice(0, eq), { value: item.slice(eq + 1), enumerable: true, writable: true, configurable: true });
    }
    return flags;
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  }
  return undefined;
}

const ENV_NAME = /^[^=\0]+$/;

/**
 * A flat Python dict literal of scalars, e.g. "{'GREETING': 'hello', 'N': 3}": what the Python
 * client puts in the query string when it sends envars as a query parameter (httpx writes str(dict)).
 * Undefined for anything else.
 */
export function parsePythonDict(text: string): Record<string, unknown> | undefined {
  const token = /\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|(True|False|None))\s*/y;
  const unescape = (s: string) => s.replace(/\\(.)/g, "$1");
  const scalar = (): unknown => {
    const m = token.exec(text);
    if (!m) return undefined;
    if (m[1] !== undefined) return unescape(m[1]);
    if (m[2] !== undefined) return unescape(m[2]);
    if (m[3] !== undefined) return m[3];
    return m[4] === "None" ? undefined : m[4] === "True" ? "True" : "False";
  };
  const expect = (char: string) => {
    const at = /\s*/y;
    at.lastIndex = token.lastIndex;
    at.exec(text);
    if (text[at.lastIndex] !== char) return false;
    token.lastIndex = at.lastIndex + 1;
    return true;
  };
  token.lastIndex = 0;
  const dict: Record<string, unknown> = {};
  if (!expect("{")) return undefined;
  if (expect("}")) return token.lastIndex === text.trimEnd().length ? dict : undefined;
  for (;;) {
    const key = scalar();
    if (typeof key !== "string" || !expect(":")) return undefined;
    const value = scalar();
    if (value === undefined) return undefined;
    Object.defineProperty(dict, key, { value, enumerable: true, writable: true, configurable: true });
    if (expect("}")) return token.lastIndex === text.trimEnd().length ? dict : undefined;
    if (!expect(",")) return undefined;
  }
}

/** A flat mapping of names to scalars (stringified), or undefined when it is anything else. */
export function toEnvars(value: unknown): Record<string, string> | undefined {
  let v = value;
  if (typeof value === "string") {
    try {
      v = JSON.parse(value);
    } catch {
      v = parsePythonDict(value);
    }
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const env: Record<string, string> = {};
  for (const [name, val] of Object.entries(v)) {
    if (!ENV_NAME.test(name)) return undefined;
    if (typeof val === "string") env[name] = val;
    else if (typeof val === "number" || typeof val === "boolean") env[name] = String(val);
    else return undefined;
  }
  return env;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function parseSubmitRequest(query: Record<string, string>, body: SubmitBody): SubmitRequest {
  const fields = new Map<string, { value: unknown; where: Where }>();
  for (const [k, v] of Object.entries(query)) fields.set(k, { value: v, where: "query" });

  if (body.kind === "json") {
    if (!isPlainObject(body.value)) {
      throw new ApiError(422, { detail: [{ loc: ["body"], msg: "value is not a valid dict", type: "type_error.dict" }] });
    }
    if ("command" in body.value) {
      for (const [k, v] of Object.entries(body.value)) fields.set(k, { value: v, where: "body" });
    } else if (Object.keys(body.value).length) {
      fields.set("envars", { value: body.value, where: "body" });
    }
  } else if (body.kind === "form") {
    for (const [k, v] of Object.entries(body.value)) fields.set(k, { value: v, where: "body" });
  }

  const req: SubmitRequest = {};
  const details: Detail[] = [];
  const get = (name: string) => {
    const f = fields.get(name);
    return f && f.value !== null && f.value !== undefined && f.value !== "" ? f : undefined;
  };

  const command = get("command");
  if (command) {
    const v = command.value;
    if (typeof v === "string") req.command = v;
    else if (typeof v === "number") req.command = String(v);
    else if (Array.isArray(v) && v.every((a) => typeof a === "string" || typeof a === "number")) req.command = v.map(String);
    else details.push({ loc: [command.where, "command"], msg: "str type expected", type: "type_error.str" });
  }
  for (const name of INT_FIELDS) {
    const f = get(name);
    if (!f) continue;
    const n = toInt(f.value);
    if (n === undefined || !Number.isSafeInteger(n)) {
      details.push({ loc: [f.where, name], msg: "value is not a valid integer", type: "type_error.integer" });
    } else if (Math.abs(n) > MAX_INT) {
      details.push({ loc: [f.where, name], msg: `ensure this value is less than or equal to ${MAX_INT}`, type: "value_error.number.not_le" });
    } else req[name] = n;
  }
  for (const name of BOOL_FIELDS) {
    const f = get(name);
    if (!f) continue;
    const b = toBool(f.value);
    if (b === undefined) details.push({ loc: [f.where, name], msg: "value could not be parsed to a boolean", type: "type_error.bool" });
    else req[name] = b;
  }
  for (const name of STR_FIELDS) {
    const f = get(name);
    if (!f) continue;
    if (typeof f.value === "string" || typeof f.value === "number") req[name] = String(f.value);
    else details.push({ loc: [f.where, name], msg: "str type expected", type: "type_error.str" });
  }
  const flags = get("option_flags");
  if (flags) {
    const parsed = toOptionFlags(flags.value);
    if (parsed) req.option_flags = parsed;
    else details.push({ loc: [flags.where, "option_flags"], msg: "str type expected", type: "type_error.str" });
  }
  if (details.length) throw new ApiError(422, { detail: details });

  const envars = get("envars");
  if (envars) {
    const env = toEnvars(envars.value);
    if (!env) {
      throw new ApiError(400, { Message: "Invalid submit request", Errors: ["Environment variables must be key/value pairs (dict)"] });
    }
    req.envars = env;
  }
  return req;
}
