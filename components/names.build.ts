/** Physical names that must fit a cloud's length limit and stay unique. */
import { createHash } from "node:crypto";

/**
 * `full` in lowercase letters, digits and dashes; when longer than `maxLength`, its start and a hash
 * of the whole (so two long names that share a start still differ).
 */
export function fitName(full: string, maxLength: number): string {
  const clean = full.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  if (clean.length <= maxLength) return clean;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 6);
  return `${clean.slice(0, maxLength - hash.length - 1).replace(/-$/, "")}-${hash}`;
}
