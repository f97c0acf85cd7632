// Display helpers for job records. Ids are carried as decimal strings (see json.ts).

const f58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Flux's F58 form of a decimal job id ("ƒ" followed by base-58 digits), or "" if not an id. */
export function f58(decimalId: string | number): string {
  const text = String(decimalId);
  if (!/^\d+$/.test(text)) return "";
  let n = BigInt(text);
  if (n === 0n) return "ƒ1";
  let digits = "";
  while (n > 0n) {
    digits = f58Alphabet[Number(n % 58n)] + digits;
    n /= 58n;
  }
  return "ƒ" + digits;
}

/** "2026-11-25 09:31:04" in the viewer's time zone, from seconds since the epoch. */
export function formatTimestamp(seconds: unknown): string {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return "";
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "1.2s", "3m 04s", "2h 05m", "3d 4h" from seconds. */
export function formatDuration(seconds: unknown): string {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

/** Text for a value that may be missing or an empty string. */
export function text(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
