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

/** AWS tags on every resource of the stack (through the provider's default tags): cost reports and ownership. */
export function stackTags(project: string, stack: string): Record<string, string> {
  return { "pulumi:project": project, "pulumi:stack": stack };
}

/** GCP label values allow only lowercase letters, digits, `_` and `-`, at most 63 characters. */
const labelValue = (text: string) => text.toLowerCase().replace(/[^a-z0-9_-]/g, "_").slice(0, 63);

/** GCP labels on every resource of the stack that takes them (keys cannot hold ":"). */
export function stackLabels(project: string, stack: string): Record<string, string> {
  return { "pulumi-project": labelValue(project), "pulumi-stack": labelValue(stack) };
}
