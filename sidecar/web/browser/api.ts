// The page's client for the sidecar's API. Every URL is relative to the document's <base>, so the
// UI works on any origin and behind a path-prefixing proxy. The session cookie goes along on its own;
// unsafe methods carry the CSRF token the session endpoint hands out.
import { parseJsonLossless } from "./json";

export interface Session { authRequired: boolean; user: string | null; csrfToken: string | null }

let session: Session = { authRequired: false, user: null, csrfToken: null };

export function currentSession(): Session {
  return session;
}

export function setSession(next: Session): void {
  session = next;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown) {
    super(message);
  }
}

/** The API answered 503: the Flux broker cannot be reached (the message says why). */
export class BrokerUnavailableError extends ApiError {}

/** The API answered 401: the session is missing or has expired. */
export class NotAuthenticatedError extends ApiError {}

/** The human message in an error body, whichever shape the route uses. */
export function errorMessage(body: unknown, fallback: string): string {
  if (typeof body === "string" && body.trim()) return body.trim();
  if (!body || typeof body !== "object") return fallback;
  const b = body as Record<string, unknown>;
  const errors = Array.isArray(b.Errors) ? b.Errors.filter((e): e is string => typeof e === "string") : [];
  if (errors.length) return errors.join(" ");
  for (const key of ["detail", "Message", "message", "error", "Error"]) {
    const value = b[key];
    if (typeof value === "string" && value) {
      // {"Message": "There was an issue submitting that job.", "Error": "<why>"}: show both.
      return key === "Message" && typeof b.Error === "string" ? `${value} ${b.Error}` : value;
    }
    if (Array.isArray(value)) {
      const msgs = value.map((v) => (v && typeof v === "object" && "msg" in v ? String((v as { msg: unknown }).msg) : String(v)));
      if (msgs.length) return msgs.join(" ");
    }
  }
  return fallback;
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  /** Any other body: a form (multipart, its own content type) or a file sent as raw bytes. */
  body?: FormData | Blob;
  signal?: AbortSignal;
  accept?: string;
}

/** Sends a request and returns the response, throwing ApiError (or a subclass) unless it is 2xx. */
export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: options.accept ?? "application/json" };
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  else if (options.body instanceof Blob) headers["Content-Type"] = "application/octet-stream";
  if (method !== "GET" && method !== "HEAD" && session.csrfToken) headers["X-CSRF-Token"] = session.csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.json === undefined ? options.body : JSON.stringify(options.json),
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.", null);
  }
  if (response.ok) return response;
  const body = await readBody(response);
  const message = errorMessage(body, `${response.status} ${response.statusText || "error"}`);
  if (response.status === 503) throw new BrokerUnavailableError(503, message, body);
  if (response.status === 401) throw new NotAuthenticatedError(401, message, body);
  throw new ApiError(response.status, message, body);
}

/** request() and parse the JSON answer (ids beyond 2^53 come back as strings). */
export async function getJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await request(path, options);
  return (await readBody(response)) as T;
}

async function readBody(response: Response): Promise<unknown> {
  const textBody = await response.text().catch(() => "");
  if (!textBody) return null;
  try {
    return parseJsonLossless(textBody);
  } catch {
    return textBody;
  }
}

export async function loadSession(): Promise<Session> {
  session = await getJson<Session>("ui/session");
  return session;
}
