/**
 * Every failure becomes a JSON answer with the right status: never a stack trace, never a crash.
 * Handlers throw ApiError for answers they choose; Flux client errors are mapped here.
 */
import { FluxMessageTooLargeError, FluxProtocolError, FluxTimeoutError, FluxUnavailableError, FluxUnsupportedError } from "../flux";
import type { ApiRequest, Reply } from "./http";
import { jsonResponse } from "./json";
import type { Logger } from "../log";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(typeof body === "object" && body && "detail" in body ? String((body as { detail: unknown }).detail) : `HTTP ${status}`);
  }
}

/** FastAPI's (pydantic v1) 422 shape for a parameter that does not parse. */
export function validationError(where: "query" | "body", field: string, msg: string, type: string): ApiError {
  return new ApiError(422, { detail: [{ loc: [where, field], msg, type }] });
}

/**
 * Why the broker cannot be used, in words fit for any client: the error's class and errno code,
 * never its message, which names the socket path (the full message goes to the log).
 */
export function publicBrokerReason(err: unknown): string {
  if (err instanceof FluxTimeoutError) return "the Flux broker did not answer in time";
  if (err instanceof FluxProtocolError) return "the Flux broker sent a message that could not be read";
  let code: string | undefined;
  for (let e = err as NodeJS.ErrnoException | undefined; e && !code; e = e.cause as NodeJS.ErrnoException | undefined) code = e.code;
  return code ? `the Flux broker's socket cannot be reached (${code})` : "the Flux broker's socket cannot be reached";
}

export function brokerUnavailable(err: Error): ApiError {
  return new ApiError(503, { detail: `The Flux broker is not available: ${publicBrokerReason(err)}` }, { "retry-after": "5" });
}

/** Maps any thrown value to a reply; unexpected errors are logged and answered with a bare 500. */
export function errorResponse(err: unknown, log: Logger, req?: ApiRequest): Reply {
  if (err instanceof ApiError) return jsonResponse(err.body, err.status, err.headers);
  // A broker that sent bytes that are not Flux messages is as unusable as one that is gone:
  // the connection was closed and the next call opens a new one.
  if (err instanceof FluxUnavailableError || err instanceof FluxProtocolError) {
    log.warn({ err: err.message, path: req?.path }, "broker unavailable");
    const e = brokerUnavailable(err);
    return jsonResponse(e.body, e.status, e.headers);
  }
  if (err instanceof FluxMessageTooLargeError) {
    return jsonResponse({ detail: `The Flux broker's reply is too large for this server: ${err.message} (FLUX_MAX_MESSAGE_BYTES)` }, 502);
  }
  if (err instanceof FluxUnsupportedError) {
    // A broker of another flux-core release (or without the module): say so, do not guess.
    return jsonResponse({ detail: `The Flux broker does not support this request (${err.topic}): ${err.message}` }, 501);
  }
  if (err instanceof FluxTimeoutError) {
    return jsonResponse({ detail: `The Flux broker did not answer in time: ${err.message}` }, 504);
  }
  if ((err as NodeJS.ErrnoException)?.code === "ECONNRESET") {
    // The client went away while its request was being read: nobody is left to answer.
    log.debug({ path: req?.path, method: req?.method }, "client closed the connection");
    return jsonResponse({ detail: "Client closed the connection" }, 400);
  }
  log.error({ err, path: req?.path, method: req?.method }, "unhandled error");
  return jsonResponse({ detail: "Internal Server Error" }, 500);
}

export function notFound(): Reply {
  return jsonResponse({ detail: "Not Found" }, 404);
}
