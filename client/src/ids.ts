/**
 * Flux job ids (FLUIDs) are 64-bit: they pass 2^53 after about six days of instance uptime,
 * so they are bigint here, and users may type them in decimal or in Flux's F58 form (ƒ… or f…).
 */
import { InvalidJobIdError } from "./errors";

const F58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const F58_PREFIXES = ["ƒ", "f"];
const MAX_ID = (1n << 64n) - 1n;

export type JobIdLike = bigint | number | string;

function decodeF58(digits: string, original: string): bigint {
  if (digits.length === 0) throw new InvalidJobIdError(original);
  let value = 0n;
  for (const ch of digits) {
    const digit = F58_ALPHABET.indexOf(ch);
    if (digit < 0) throw new InvalidJobIdError(original);
    value = value * 58n + BigInt(digit);
  }
  return value;
}

/** Parses a job id given as bigint, safe integer, decimal text or F58 text. */
export function parseJobId(input: JobIdLike): bigint {
  let value: bigint;
  if (typeof input === "bigint") value = input;
  else if (typeof input === "number") {
    if (!Number.isSafeInteger(input)) throw new InvalidJobIdError(String(input));
    value = BigInt(input);
  } else {
    const text = input.trim();
    const prefix = F58_PREFIXES.find((p) => text.startsWith(p));
    if (/^\d+$/.test(text)) value = BigInt(text);
    else if (prefix) value = decodeF58(text.slice(prefix.length), input);
    else throw new InvalidJobIdError(input);
  }
  if (value < 0n || value > MAX_ID) throw new InvalidJobIdError(String(input));
  return value;
}

/** Flux's F58 rendering of a job id, e.g. 30937186304n → "ƒp8pAes". */
export function formatF58(id: bigint): string {
  let rest = id;
  let digits = "";
  do {
    digits = F58_ALPHABET[Number(rest % 58n)] + digits;
    rest /= 58n;
  } while (rest > 0n);
  return "ƒ" + digits;
}
