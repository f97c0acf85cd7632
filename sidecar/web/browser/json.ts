// Job ids are 64-bit integers and pass 2^53 after a few days of uptime, so a plain JSON.parse
// would round them. Integers outside the safe range are turned into strings before parsing.

const numberToken = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** JSON.parse, except that integers beyond ±(2^53 - 1) arrive as decimal strings. */
export function parseJsonLossless(text: string): unknown {
  let out = "";
  let copiedUpTo = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      i = endOfString(text, i);
      continue;
    }
    if (ch === "-" || (ch >= "0" && ch <= "9")) {
      numberToken.lastIndex = i;
      const match = numberToken.exec(text);
      if (!match) break; // malformed; JSON.parse reports it
      const token = match[0];
      if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) {
        out += text.slice(copiedUpTo, i) + `"${token}"`;
        copiedUpTo = i + token.length;
      }
      i += token.length;
      continue;
    }
    i++;
  }
  return JSON.parse(copiedUpTo === 0 ? text : out + text.slice(copiedUpTo));
}

/** Index just past the closing quote of the string starting at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\") i += 2;
    else if (ch === '"') return i + 1;
    else i++;
  }
  return i;
}
