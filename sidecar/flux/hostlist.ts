/**
 * RFC 29 hostlists, with flux-core libhostlist's behaviour where the RFC is vague: tokens are
 * separated by commas or whitespace outside brackets, and the zero-pad width of each idlist
 * element is the length of its own lower bound ("[00-2]" → 00,01,02; "[8-10]" → 8,9,10).
 * Order and duplicates are kept.
 */

export class HostlistError extends Error {
  override name = "HostlistError";
}

function splitTopLevel(text: string): string[] {
  const tokens: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "[") depth++;
    else if (ch === "]") depth--;
    if (depth < 0) throw new HostlistError(`unbalanced "]" in hostlist "${text}"`);
    if (depth === 0 && (ch === "," || ch === " " || ch === "\t")) {
      if (current) tokens.push(current);
      current = "";
    } else current += ch;
  }
  if (depth !== 0) throw new HostlistError(`unbalanced "[" in hostlist "${text}"`);
  if (current) tokens.push(current);
  return tokens;
}

export function expandHostlist(text: string): string[] {
  const hosts: string[] = [];
  for (const token of splitTopLevel(text)) {
    const m = /^([^[\]]*)\[([^[\]]*)\]([^[\]]*)$/.exec(token);
    if (!m) {
      if (/[[\]]/.test(token)) throw new HostlistError(`invalid hostlist expression "${token}"`);
      hosts.push(token);
      continue;
    }
    const [, prefix, list, suffix] = m;
    for (const element of list.split(",")) {
      const r = /^(\d+)(?:-(\d+))?$/.exec(element);
      if (!r) throw new HostlistError(`invalid range "${element}" in hostlist "${text}"`);
      const lo = Number(r[1]);
      const hi = r[2] === undefined ? lo : Number(r[2]);
      if (hi < lo) throw new HostlistError(`invalid range "${element}" in hostlist "${text}"`);
      const width = r[1].length;
      for (let n = lo; n <= hi; n++) hosts.push(`${prefix}${String(n).padStart(width, "0")}${suffix}`);
    }
  }
  return hosts;
}

interface NumberedHost {
  prefix: string;
  num: number;
  /** digit count when zero-padded, 0 when not padded */
  padWidth: number;
  digits: number;
}

function splitNumber(host: string): NumberedHost | undefined {
  const m = /^(.*?)(\d{1,9})$/.exec(host);
  if (!m) return undefined;
  const digits = m[2];
  return { prefix: m[1], num: Number(digits), padWidth: digits.length > 1 && digits[0] === "0" ? digits.length : 0, digits: digits.length };
}

/** Two numbers print in the same range iff they share a padding width (or neither is padded). */
function sameWidth(a: NumberedHost, b: NumberedHost): boolean {
  return (a.padWidth === 0 && b.padWidth === 0) || a.digits === b.digits;
}

/** Compresses hosts, in order, into RFC 29 form ("flux-sample-[0-3]"); consecutive hosts only. */
export function compressHostlist(hosts: readonly string[]): string {
  const groups: string[] = [];
  let i = 0;
  while (i < hosts.length) {
    const first = splitNumber(hosts[i]);
    if (!first) {
      groups.push(hosts[i++]);
      continue;
    }
    // collect the run of hosts sharing this prefix, as ranges of consecutive numbers
    const ranges: Array<{ lo: NumberedHost; hi: NumberedHost }> = [{ lo: first, hi: first }];
    let j = i + 1;
    for (; j < hosts.length; j++) {
      const next = splitNumber(hosts[j]);
      if (!next || next.prefix !== first.prefix) break;
      const last = ranges[ranges.length - 1];
      if (next.num === last.hi.num + 1 && sameWidth(last.hi, next)) last.hi = next;
      else ranges.push({ lo: next, hi: next });
    }
    if (j === i + 1) groups.push(hosts[i]);
    else {
      const pad = (h: NumberedHost) => String(h.num).padStart(h.padWidth, "0");
      const list = ranges.map((r) => (r.lo === r.hi ? pad(r.lo) : `${pad(r.lo)}-${String(r.hi.num).padStart(r.lo.padWidth, "0")}`));
      groups.push(`${first.prefix}[${list.join(",")}]`);
    }
    i = j;
  }
  return groups.join(",");
}
