/**
 * Response JSON written the way the Python server writes it: compact, UTF-8, job ids as exact
 * integers (bigint), objects built as Maps keep their insertion order even for numeric keys
 * (JS objects would sort "1","2",… first), and the fields Flux stores as floats keep a ".0"
 * when whole ("duration":0.0), since Python's json does.
 */
import type { Headers, Reply } from "./http";

const FLOAT_KEYS = new Set([
  "t_submit",
  "t_depend",
  "t_priority",
  "t_sched",
  "t_run",
  "t_cleanup",
  "t_inactive",
  "duration",
  "expiration",
  "runtime",
  "t_remaining",
]);

// Strings without these characters are written between quotes as they are (the common case,
// and much cheaper than JSON.stringify per string).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

function writeString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function writeNumber(value: number, asFloat: boolean): string {
  if (!Number.isFinite(value)) return "null";
  const text = String(value);
  return asFloat && Number.isInteger(value) && !text.includes("e") ? `${text}.0` : text;
}

function write(value: unknown, key: string | undefined): string {
  switch (typeof value) {
    case "string":
      return writeString(value);
    case "number":
      return writeNumber(value, key !== undefined && FLOAT_KEYS.has(key));
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "object":
      break;
    default:
      return "null";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i ? "," : "") + write(value[i], undefined);
    return `${out}]`;
  }
  let out = "{";
  let first = true;
  const member = (k: string, v: unknown) => {
    if (v === undefined || typeof v === "function") return;
    out += `${first ? "" : ","}${writeString(k)}:${write(v, k)}`;
    first = false;
  };
  if (value instanceof Map) for (const [k, v] of value) member(String(k), v);
  else for (const k in value) member(k, (value as Record<string, unknown>)[k]);
  return `${out}}`;
}

export function toJson(value: unknown): string {
  return write(value, undefined);
}

/** A JSON reply with the Python server's content type. */
export function jsonResponse(value: unknown, status = 200, headers?: Headers): Reply {
  return jsonTextResponse(toJson(value), status, headers);
}

/** A reply of JSON already written, as text or UTF-8 bytes. */
export function jsonTextResponse(json: string | Uint8Array, status = 200, headers?: Headers): Reply {
  return { status, headers: { "content-type": "application/json", ...headers }, body: json };
}
