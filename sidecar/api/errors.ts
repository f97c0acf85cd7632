/**
 * Every failure becomes a JSON answer with the right status: never a stack trace, never a crash.
 * Handlers throw ApiError for answers they choose; Flux client errors are mapped here.
 */
import { FluxProtocolError, FluxTimeoutError, FluxUnavailableError, FluxUnsupportedError } from "../flux";
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

export function brokerUnavailable(err: Error): ApiError {
  return new ApiError(503, { detail: `The Flux broker is not available: ${err.message}` }, { "retry-after": "5" });
}

/** Maps any thrown value to a reply; unexpected errors are logged and answered with a bare 500. */
export function errorResponse(err: unknown, log: Logger, req?: ApiRequest): Reply {
  if (err instanceof ApiError) return jsonResponse(err.body, err.status, err.headers);
  // A broker that sent bytes that are not Flux messages is as unusable as one that is gone:
  // the connection was closed and the next call opens a new one.
  if (err instanceof FluxUnavailableError || err instanceof FluxProtocolError) {
    const e = brokerUnavailable(err);
    return jsonResponse(e.body, e.status, e.headers);
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
