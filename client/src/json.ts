/**
 * Lossless JSON for API bodies: every `id` becomes a bigint (whatever its size, so callers see
 * one type), other integers beyond 2^53 become bigint, and bigint is written back as digits.
 */
import { parse, stringify } from "lossless-json";

function parseNumber(text: string): number | bigint {
  if (/^-?\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }
  return Number(text);
}

function reviveId(key: string, value: unknown): unknown {
  if (key === "id" && typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  return value;
}

export function parseJson(text: string): unknown {
  return parse(text, reviveId, parseNumber);
}

/** JSON text with bigint as bare integers; `indent` as in JSON.stringify. */
export function stringifyJson(value: unknown, indent?: number): string {
  return stringify(value, undefined, indent) ?? "null";
}
