/**
 * Errors raised by the native Flux client. Every failure a caller can see is one of these.
 */
import { constants as osConstants } from "node:os";

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** "ENOENT" for 2 etc.; "E<n>" for numbers Node does not name. */
export function errnoCode(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** Linux errno values that the client code itself branches on. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINVAL: 22,
  ENOSYS: 38,
  ENODATA: 61,
  EPROTO: 71,
  ECONNRESET: 104,
} as const;

const strerror: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  13: "Permission denied",
  17: "File exists",
  22: "Invalid argument",
  38: "Function not implemented",
  61: "No data available",
  71: "Protocol error",
  95: "Operation not supported",
  104: "Connection reset by peer",
  110: "Connection timed out",
  111: "Connection refused",
  113: "No route to host",
  125: "Operation canceled",
};

/** An error reply from the broker: errno plus the broker's message (or strerror when it sent none). */
export class FluxError extends Error {
  override name = "FluxError";
  readonly code: string;
  constructor(
    readonly errno: number,
    message: string | undefined,
    readonly topic: string,
  ) {
    super(message || strerror[errno] || `error ${errno}`);
    this.code = errnoCode(errno);
  }
}

/** cancel/kill/lookup of a job id the broker does not know. */
export class UnknownJobError extends FluxError {
  override name = "UnknownJobError";
}

/** cancel/kill of a job that is already inactive. */
export class JobInactiveError extends FluxError {
  override name = "JobInactiveError";
}

/**
 * The broker has no service for the request (ENOSYS, "No service matching <topic> is
 * registered"): a broker of another flux-core release, or with a module not loaded.
 */
export class FluxUnsupportedError extends FluxError {
  override name = "FluxUnsupportedError";
}

/** The broker cannot be reached, or the connection to it was lost. */
export class FluxUnavailableError extends Error {
  override name = "FluxUnavailableError";
  /** True when the request surely never reached the broker (no connection to send it on). */
  readonly notSent: boolean;
  constructor(message: string, options?: { cause?: unknown; notSent?: boolean }) {
    super(message, options);
    this.notSent = options?.notSent ?? false;
  }
}

/** A call got no final reply within its timeout. */
export class FluxTimeoutError extends Error {
  override name = "FluxTimeoutError";
}

/** The broker sent bytes that are not a valid Flux message; the connection is closed. */
export class FluxProtocolError extends Error {
  override name = "FluxProtocolError";
}

/**
 * The broker's reply was larger than the client accepts (maxMessageBytes). It was read past
 * without being buffered; only the request it answered fails, and the connection stays usable.
 */
export class FluxMessageTooLargeError extends Error {
  override name = "FluxMessageTooLargeError";
  constructor(
    readonly topic: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${topic}: the broker's reply is ${size} bytes, over the ${limit}-byte message limit`);
  }
}

/** A stream's consumer fell behind by more than the stream buffer holds; the stream was cancelled. */
export class FluxBacklogError extends Error {
  override name = "FluxBacklogError";
}
