/** Errors the client raises; each message is one line meant to be shown to a person as is. */
export class FluxRestfulError extends Error {
  override name = "FluxRestfulError";
}

/** The host could not be reached (refused, reset, DNS, timeout) after the retries. */
export class ConnectionError extends FluxRestfulError {
  override name = "ConnectionError";
  constructor(
    message: string,
    /** The request may have reached the server (reset, timed out) rather than surely not (refused, DNS). */
    readonly maybeSent = false,
  ) {
    super(message);
  }
}

/**
 * A submit whose outcome the client cannot know: the server (or the way to it) failed after the
 * request may have reached it. With `idempotencyKey`, submitting the same options again with that
 * key is safe (the server answers the job it created, if any); without, look for the job first.
 */
export class SubmitOutcomeUnknownError extends FluxRestfulError {
  override name = "SubmitOutcomeUnknownError";
  constructor(
    message: string,
    /** Set when the server honours Idempotency-Key: the key this submit was sent with. */
    readonly idempotencyKey: string | undefined,
    override readonly cause: FluxRestfulError,
  ) {
    super(message);
  }
}

/** The server refused the credentials, or asked for credentials the client does not have. */
export class AuthenticationError extends FluxRestfulError {
  override name = "AuthenticationError";
}

export class JobNotFoundError extends FluxRestfulError {
  override name = "JobNotFoundError";
  constructor(readonly jobId: bigint) {
    super(`job ${jobId} not found`);
  }
}

export class InvalidJobIdError extends FluxRestfulError {
  override name = "InvalidJobIdError";
  constructor(readonly input: string) {
    super(`invalid job id "${input}": expected a decimal or F58 (ƒ…) id`);
  }
}

/** The server answered with an error status; `message` carries the server's own words. */
export class ApiError extends FluxRestfulError {
  override name = "ApiError";
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export class WaitTimeoutError extends FluxRestfulError {
  override name = "WaitTimeoutError";
}
