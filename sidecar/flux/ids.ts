/**
 * Flux job ids (FLUIDs, RFC 19): unsigned 64-bit integers, kept as bigint. Text forms as in
 * flux-core libjob/id.c and libutil/fluid.c: decimal, f58 ("ƒ" or ASCII "f" + base58, most
 * significant digit first), hex ("0x..."), dothex ("0000.0001.6400.0000"), with an
 * optional "job." prefix on input.
 */

export class JobIdError extends Error {
  override name = "JobIdError";
}

export type JobIdForm = "dec" | "f58" | "f58plain" | "hex" | "dothex";

const MAX_ID = (1n << 64n) - 1n;
const B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const B58_VALUE = new Map([...B58_ALPHABET].map((ch, i) => [ch, BigInt(i)]));
const F58_PREFIX = "ƒ";
const MAX_F58_DIGITS = 12;

function checkRange(id: bigint, text: string): bigint {
  if (id > MAX_ID) throw new JobIdError(`job id "${text}" does not fit in 64 bits`);
  return id;
}

function parseF58(digits: string, text: string): bigint {
  if (digits.length === 0 || digits.length > MAX_F58_DIGITS) throw new JobIdError(`invalid f58 job id "${text}"`);
  let id = 0n;
  for (const ch of digits) {
    const v = B58_VALUE.get(ch);
    if (v === undefined) throw new JobIdError(`invalid f58 job id "${text}": "${ch}" is not a base58 digit`);
    id = id * 58n + v;
  }
  return checkRange(id, text);
}

/** Parses any supported text form; throws JobIdError on bad input or ids beyond 64 bits. */
export function parseJobId(text: string): bigint {
  if (typeof text !== "string") throw new JobIdError("job id must be a string");
  let s = text.trim();
  if (s.startsWith("job.")) s = s.slice(4);
  if (s === "") throw new JobIdError(`invalid job id "${text}"`);
  if (s.includes(".")) {
    const groups = s.split(".");
    if (groups.length !== 4 || !groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) {
      throw new JobIdError(`invalid dothex job id "${text}"`);
    }
    return groups.reduce((id, g) => (id << 16n) | BigInt(`0x${g}`), 0n);
  }
  if (s.includes("-")) throw new JobIdError(`mnemonic (words) job ids are not supported: "${text}"`);
  if (s.startsWith(F58_PREFIX)) return parseF58(s.slice(F58_PREFIX.length), text);
  if (s.startsWith("f")) return parseF58(s.slice(1), text);
  if (s.startsWith("0x")) {
    if (!/^0x[0-9a-fA-F]{1,16}$/.test(s)) throw new JobIdError(`invalid hex job id "${text}"`);
    return BigInt(s);
  }
  if (!/^\d+$/.test(s)) throw new JobIdError(`invalid job id "${text}"`);
  return checkRange(BigInt(s), text);
}

function toF58(id: bigint): string {
  let digits = "";
  do {
    digits = B58_ALPHABET[Number(id % 58n)] + digits;
    id /= 58n;
  } while (id > 0n);
  return digits;
}

/** Formats an id; "dec" by default. */
export function formatJobId(id: bigint, form: JobIdForm = "dec"): string {
  if (typeof id !== "bigint" || id < 0n || id > MAX_ID) throw new JobIdError(`job id ${String(id)} is not an unsigned 64-bit integer`);
  switch (form) {
    case "dec":
      return id.toString();
    case "f58":
      return F58_PREFIX + toF58(id);
    case "f58plain":
      return "f" + toF58(id);
    case "hex":
      return "0x" + id.toString(16);
    case "dothex": {
      const hex = id.toString(16).padStart(16, "0");
      return `${hex.slice(0, 4)}.${hex.slice(4, 8)}.${hex.slice(8, 12)}.${hex.slice(12)}`;
    }
    default:
      throw new JobIdError(`unknown job id form "${String(form)}"`);
  }
}

/** A job id from a JSON value (number for small ids, bigint beyond 2^53). */
export function jobIdFromJson(value: unknown): bigint {
  if (typeof value === "bigint") return checkRange(value, String(value));
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new JobIdError(`invalid job id ${String(value)} in broker reply`);
}
