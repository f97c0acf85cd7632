/** RFC 22 idsets: "0-3,5", optionally bracketed ("[0-1]" as job-list sends ranks); "" is empty. */

export class IdsetError extends Error {
  override name = "IdsetError";
}

/** Ids in ascending order without duplicates. */
export function parseIdset(text: string): number[] {
  let s = text.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  if (s === "") return [];
  const ids = new Set<number>();
  for (const piece of s.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(piece);
    if (!m) throw new IdsetError(`invalid idset "${text}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!Number.isSafeInteger(hi) || hi < lo) throw new IdsetError(`invalid idset range "${piece}" in "${text}"`);
    for (let id = lo; id <= hi; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** Canonical RFC 22 text: sorted, runs compressed to "a-b", no brackets. */
export function formatIdset(ids: Iterable<number>): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
