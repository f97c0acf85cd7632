/**
 * flux-core versions: which the client is tested on, and what a broker's reported version
 * (attr "version", e.g. "0.55.0" or "0.88.0-59-g4a5e79f56") means for it. The client never
 * guesses a version: where brokers differ it adapts to what the broker answers (an ENOSYS reply,
 * a missing key, an eventlog entry), and the version is reported so people know what runs.
 */

/** Releases the native client, the sidecar and the web UI were run against (npm run test:flux). */
export const TESTED_FLUX_CORE = ["0.55.0", "0.70.0", "0.88.0"] as const;

/** The supported range: every release line from the oldest tested one to the newest. */
export const SUPPORTED_FLUX_CORE = { min: "0.55.0", max: "0.88" } as const;

export interface FluxCoreVersion {
  major: number;
  minor: number;
  patch: number;
  /** the text as the broker reported it */
  text: string;
}

/** "0.88.0", "0.88.0-59-g4a5e79f56", "v0.70.0", "0.60.0rc1"; undefined for anything else. */
export function parseFluxCoreVersion(text: string): FluxCoreVersion | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text };
}

export type VersionSupport =
  | { supported: true; version: FluxCoreVersion }
  | { supported: false; version?: FluxCoreVersion; reason: string };

const key = (v: { major: number; minor: number }) => v.major * 10_000 + v.minor;

/** Whether a broker's reported version is in the supported range, with a sentence saying why not. */
export function fluxCoreSupport(text: string): VersionSupport {
  const version = parseFluxCoreVersion(text);
  const range = `${SUPPORTED_FLUX_CORE.min} to ${SUPPORTED_FLUX_CORE.max}.x`;
  if (!version) return { supported: false, reason: `flux-core version "${text}" is not a version number; this client is tested with ${range}` };
  const min = parseFluxCoreVersion(SUPPORTED_FLUX_CORE.min)!;
  const max = parseFluxCoreVersion(`${SUPPORTED_FLUX_CORE.max}.0`)!;
  if (key(version) < key(min)) {
    return { supported: false, version, reason: `flux-core ${text} is older than ${SUPPORTED_FLUX_CORE.min}, the oldest release this client is tested with (${range})` };
  }
  if (key(version) > key(max)) {
    return { supported: false, version, reason: `flux-core ${text} is newer than ${SUPPORTED_FLUX_CORE.max}.x, the newest release line this client is tested with (${range})` };
  }
  return { supported: true, version };
}
