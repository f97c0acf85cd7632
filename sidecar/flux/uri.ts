/** FLUX_URI handling (flux-core libflux/handle.c flux_open_ex): only the local connector is supported. */

/** Where flux-core's own default (`local://<rundir>/local`) points for a system instance. */
export const DEFAULT_FLUX_URI = "local:///run/flux/local";

/** sun_path holds 108 bytes including the NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export class FluxUriError extends Error {
  override name = "FluxUriError";
}

/** The URI to use: the explicit one, else $FLUX_URI, else the system-instance default. */
export function resolveFluxUri(uri?: string, env: NodeJS.ProcessEnv = process.env): string {
  return uri ?? (env.FLUX_URI || DEFAULT_FLUX_URI);
}

/** "local:///path" → "/path" (spaces and tabs around the path are trimmed, as libflux does). */
export function socketPathFromUri(uri: string): string {
  const sep = uri.indexOf("://");
  if (sep < 0) throw new FluxUriError(`invalid FLUX_URI "${uri}": expected local:///path/to/socket`);
  const scheme = uri.slice(0, sep);
  if (scheme !== "local") throw new FluxUriError(`unsupported FLUX_URI scheme "${scheme}" in "${uri}": only local:// is supported`);
  const path = uri.slice(sep + 3).replace(/^[ \t]+|[ \t]+$/g, "");
  if (!path.startsWith("/")) throw new FluxUriError(`FLUX_URI "${uri}" must name an absolute socket path`);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new FluxUriError(`socket path in FLUX_URI "${uri}" is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
  return path;
}
