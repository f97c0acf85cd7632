/**
 * POST /v1/jobs/submit fields from the query string, a JSON body or a form body, coerced the
 * way FastAPI coerces them. The Python client sends query parameters first and, on its retry
 * after a 401, the same dict as a JSON body; the Python server reads a JSON body as `envars`.
 * Both are accepted: a JSON body with a "command" key is the submit dict, any other object is
 * envars. Pure.
 */
import { ApiError } from "./errors";
import { FILE_NAME_RULES, parseMode, pathProblem } from "./workspace";
import { S_IFREG, type Fileref } from "../flux/jobspec";

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
  /** attributes.system.files: the shell writes them into FLUX_JOB_TMPDIR on every node */
  files?: Record<string, Fileref>;
  /** a batch script (run the way `flux batch` runs it) and its arguments */
  script?: string;
  script_args?: string[];
}

/** A file part of a multipart body. */
export interface FormFile {
  kind: "file";
  filename: string;
  bytes: Uint8Array;
}

export type SubmitBody =
  | { kind: "none" }
  | { kind: "json"; value: unknown }
  | { kind: "form"; value: Record<string, unknown>; files?: FormFile[]; script?: FormFile };

export interface FileLimits {
  /** decoded bytes of all files (the script included) */
  maxBytes: number;
  /** number of files (the script included) */
  maxFiles: number;
}

const NO_FILE_LIMITS: FileLimits = { maxBytes: Number.MAX_SAFE_INTEGER, maxFiles: Number.MAX_SAFE_INTEGER };
const DEFAULT_FILE_MODE = 0o600;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function fileDetail(name: string, msg: string): Detail {
  return { loc: ["body", `files.${name}`], msg, type: "value_error.file" };
}

/** Decoded size of RFC 37 data: UTF-8 bytes, base64's decoded bytes, or the JSON text of a value. */
function decodedSize(ref: Fileref): number {
  if (ref.encoding === "base64") {
    const text = ref.data as string;
    return (text.length / 4) * 3 - (text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0);
  }
  if (ref.encoding === "utf-8") return Buffer.byteLength(ref.data as string);
  return Buffer.byteLength(JSON.stringify(ref.data));
}

/**
 * One file of a JSON body: "text", or {data, encoding?: "utf-8"|"base64", mode?: 420|"0644"}
 * (a JSON value as data without encoding is written as JSON, as RFC 37 says).
 */
function jsonFileref(name: string, value: unknown, details: Detail[]): Fileref | undefined {
  if (typeof value === "string") return { mode: S_IFREG | DEFAULT_FILE_MODE, data: value, encoding: "utf-8" };
  if (!isPlainObject(value) || !("data" in value)) {
    details.push(fileDetail(name, `file ${JSON.stringify(name)} must be a string or an object with "data"`));
    return undefined;
  }
  const mode = value.mode === undefined ? DEFAULT_FILE_MODE : parseMode(value.mode);
  if (mode === undefined || mode > 0o777) {
    details.push(fileDetail(name, `file ${JSON.stringify(name)}: mode must be permission bits (0 to 0777), as a number or an octal string`));
    return undefined;
  }
  const { data, encoding } = value;
  if (encoding !== undefined && encoding !== "utf-8" && encoding !== "base64") {
    details.push(fileDetail(name, `file ${JSON.stringify(name)}: encoding must be "utf-8" or "base64"`));
    return undefined;
  }
  if (encoding !== undefined && typeof data !== "string") {
    details.push(fileDetail(name, `file ${JSON.stringify(name)}: data must be a string with an encoding`));
    return undefined;
  }
  if (encoding === "base64" && !BASE64.test(data as string)) {
    details.push(fileDetail(name, `file ${JSON.stringify(name)}: data is not valid base64`));
    return undefined;
  }
  if (encoding === undefined && typeof data === "string") return { mode: S_IFREG | mode, data, encoding: "utf-8" };
  return encoding === undefined ? { mode: S_IFREG | mode, data } : { mode: S_IFREG | mode, data, encoding };
}

/** A multipart file part: UTF-8 text when it is, else base64. */
function partFileref(bytes: Uint8Array, mode: number): Fileref {
  try {
    return { mode: S_IFREG | mode, data: utf8.decode(bytes), encoding: "utf-8" };
  } catch {
    return { mode: S_IFREG | mode, data: Buffer.from(bytes).toString("base64"), encoding: "base64" };
  }
}

function defineKey<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The files of a submit, validated: names (relative, at most 8 parts, no "." or "..", no
 * control characters or backslashes), modes and encodings give a 422 naming the file; past the
 * count or byte limit, a 413 naming the limit.
 */
function parseFiles(body: SubmitBody, fields: Map<string, { value: unknown; where: Where }>, details: Detail[]): Record<string, Fileref> | undefined {
  const files: Record<string, Fileref> = {};
  const seen = new Set<string>();
  const add = (name: string, ref: Fileref | undefined) => {
    const problem = pathProblem(name, FILE_NAME_RULES);
    if (problem) details.push(fileDetail(name, `invalid file name ${JSON.stringify(name)}: it ${problem}`));
    else if (seen.has(name)) details.push(fileDetail(name, `file name ${JSON.stringify(name)} is given twice`));
    else if (ref) {
      seen.add(name);
      defineKey(files, name, ref);
    }
  };
  const given = fields.get("files");
  if (given !== undefined && given.value !== null && given.value !== "") {
    let value = given.value;
    if (typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch {
        value = undefined;
      }
    }
    if (!isPlainObject(value)) details.push({ loc: [given.where, "files"], msg: "files must be an object of file name -> content", type: "type_error.dict" });
    else for (const [name, ref] of Object.entries(value)) add(name, jsonFileref(name, ref, details));
  }
  if (body.kind === "form" && body.files?.length) {
    let modes: Record<string, unknown> = {};
    const modesField = fields.get("file_modes");
    if (typeof modesField?.value === "string" && modesField.value !== "") {
      try {
        const parsed: unknown = JSON.parse(modesField.value);
        if (!isPlainObject(parsed)) throw new Error("not an object");
        modes = parsed;
      } catch {
        details.push({ loc: ["body", "file_modes"], msg: "file_modes must be a JSON object of file name -> mode", type: "type_error.dict" });
      }
    }
    for (const part of body.files) {
      const given = Object.prototype.hasOwnProperty.call(modes, part.filename) ? modes[part.filename] : undefined;
      const mode = given === undefined ? DEFAULT_FILE_MODE : parseMode(given);
      if (mode === undefined || mode > 0o777) details.push(fileDetail(part.filename, `file ${JSON.stringify(part.filename)}: mode must be permission bits (0 to 0777)`));
      else add(part.filename, partFileref(part.bytes, mode));
    }
  }
  return seen.size ? files : undefined;
}

/** 413 past the count or decoded-byte limit (the script counts as one file). */
function assertFileLimits(req: SubmitRequest, limits: FileLimits): void {
  const refs = Object.values(req.files ?? {});
  const count = refs.length + (req.script !== undefined ? 1 : 0);
  if (count > limits.maxFiles) {
    throw new ApiError(413, { detail: `too many files: ${count} (limit ${limits.maxFiles} per job, FLUX_MAX_JOB_FILES)` });
  }
  const bytes = refs.reduce((n, ref) => n + decodedSize(ref), req.script !== undefined ? Buffer.byteLength(req.script) : 0);
  if (bytes > limits.maxBytes) {
    throw new ApiError(413, { detail: `files too large: ${bytes} bytes (limit ${limits.maxBytes} bytes per job, FLUX_MAX_JOB_FILES_BYTES)` });
  }
}

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

function isFormFile(value: unknown): value is FormFile {
  return isPlainObject(value) && value.kind === "file" && value.bytes instanceof Uint8Array;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function parseSubmitRequest(query: Record<string, string>, body: SubmitBody, limits: FileLimits = NO_FILE_LIMITS): SubmitRequest {
  const fields = new Map<string, { value: unknown; where: Where }>();
  for (const [k, v] of Object.entries(query)) fields.set(k, { value: v, where: "query" });

  if (body.kind === "json") {
    if (!isPlainObject(body.value)) {
      throw new ApiError(422, { detail: [{ loc: ["body"], msg: "value is not a valid dict", type: "type_error.dict" }] });
    }
    if ("command" in body.value || "script" in body.value) {
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
  const script = body.kind === "form" && body.script ? { value: body.script, where: "body" as const } : get("script");
  if (script) {
    let text: string | undefined;
    if (typeof script.value === "string") text = script.value;
    else if (isFormFile(script.value)) {
      try {
        text = utf8.decode(script.value.bytes);
      } catch {
        details.push({ loc: [script.where, "script"], msg: "the script must be UTF-8 text", type: "value_error.script" });
      }
    } else details.push({ loc: [script.where, "script"], msg: "str type expected", type: "type_error.str" });
    if (text !== undefined && !text.startsWith("#!")) details.push({ loc: [script.where, "script"], msg: "script does not appear to start with '#!'", type: "value_error.script" });
    else if (text !== undefined) req.script = text;
    if (req.command !== undefined) details.push({ loc: [script.where, "command"], msg: "give either a command or a script, not both", type: "value_error.conflict" });
  }
  const scriptArgs = get("script_args");
  if (scriptArgs) {
    let value = scriptArgs.value;
    if (typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch {
        value = undefined;
      }
    }
    if (!Array.isArray(value) || !value.every((a) => typeof a === "string")) {
      details.push({ loc: [scriptArgs.where, "script_args"], msg: "script_args must be an array of strings", type: "type_error.list" });
    } else if (!script) {
      details.push({ loc: [scriptArgs.where, "script_args"], msg: "script_args needs a script", type: "value_error.conflict" });
    } else req.script_args = value;
  }
  const files = parseFiles(body, fields, details);
  if (files) {
    if (req.script !== undefined && Object.prototype.hasOwnProperty.call(files, "script")) {
      details.push(fileDetail("script", 'the file name "script" is reserved for the batch script'));
    }
    req.files = files;
  }
  if (details.length) throw new ApiError(422, { detail: details });
  assertFileLimits(req, limits);

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
