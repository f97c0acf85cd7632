/**
 * The `none` signing envelope that job-ingest accepts from the instance owner
 * (flux-core libjob/sign_none.c):
 *   base64(HEADER) "." base64(JOBSPEC) ".none"
 * where HEADER is the kv list "version\0i1\0userid\0i<uid>\0mechanism\0snone\0" (final NUL
 * included) and base64 is the padded standard alphabet, which both the built-in unwrapper
 * and flux-security's libsodium decoder accept.
 */
export function signNone(jobspecJson: string, uid: number): string {
  if (!Number.isInteger(uid) || uid < 0 || uid > 0xffffffff) throw new RangeError(`invalid uid ${uid}`);
  const header = Buffer.from(`version\0i1\0userid\0i${uid}\0mechanism\0snone\0`, "utf8");
  return `${header.toString("base64")}.${Buffer.from(jobspecJson, "utf8").toString("base64")}.none`;
}

/** Decodes a `none` envelope back into its signer uid and jobspec text (used by test doubles and tools). */
export function unwrapNone(envelope: string): { uid: number; jobspecJson: string } {
  const parts = envelope.split(".");
  if (parts.length !== 3 || parts[2] !== "none") throw new Error("not a sign-type none envelope");
  const fields = Buffer.from(parts[0], "base64").toString("utf8").split("\0");
  const header = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) header.set(fields[i], fields[i + 1]);
  if (header.get("version") !== "i1" || header.get("mechanism") !== "snone") throw new Error("bad none envelope header");
  const uidField = header.get("userid");
  if (!uidField || !/^i\d+$/.test(uidField)) throw new Error("none envelope header lacks a userid");
  return { uid: Number(uidField.slice(1)), jobspecJson: Buffer.from(parts[1], "base64").toString("utf8") };
}
