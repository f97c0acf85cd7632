/**
 * Authentication: the Python client's handshake (401 + WWW-Authenticate, then POST /v1/token with
 * an HS256 JWT {user, pass, scope:"token"} signed with FLUX_SECRET_KEY), HTTP Basic user:token for
 * curl, and the browser session (an HttpOnly cookie holding an access token, plus a CSRF token for
 * unsafe methods).
 *
 * Access tokens are signed with a key derived on the server from FLUX_SECRET_KEY and a random
 * per-process salt, so holding the shared secret is not enough to mint one, and a restart
 * invalidates them (clients get 401 and re-authenticate). Expired or invalid tokens get 401, not
 * the Python server's 403, so its client recovers. Failed attempts are rate-limited per address.
 */
import { createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { stringifySetCookie } from "cookie";
import { SignJWT, jwtVerify } from "jose";
import type { Credentials, SidecarConfig } from "../config";
import { ApiError } from "./errors";
import { clientKey } from "./address";
import type { ApiRequest } from "./http";

export const SESSION_COOKIE = "flux_session";
const ACCESS_SCOPE = "access";
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const VERIFIED_CACHE_SIZE = 1000;
/** A plain HTML form carrying its CSRF field is small; a larger body must send the X-CSRF-Token header. */
const MAX_CSRF_FORM_BYTES = 64 * 1024;
/** Revoked tokens are remembered until they expire; past this many, every token is revoked (new key). */
const REVOKED_MAX = 10_000;

/** Clients whose failures are counted at once; past this the oldest are forgotten. */
const MAX_TRACKED = 10_000;

/** Counts failed attempts per client address in a fixed window. */
export class FailureLimiter {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds the address must wait, or 0 when it may try. */
  retryAfter(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const now = this.now();
    if (now >= entry.resetAt) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= this.maxFailures ? Math.ceil((entry.resetAt - now) / 1000) : 0;
  }

  fail(address: string): void {
    const now = this.now();
    const entry = this.failures.get(address);
    if (!entry || now >= entry.resetAt) this.failures.set(address, { count: 1, resetAt: now + this.windowMs });
    else entry.count++;
    if (this.failures.size > MAX_TRACKED) {
      this.prune(now);
      // Still full of live entries (addresses rotated on purpose): forget the oldest.
      for (const key of this.failures.keys()) {
        if (this.failures.size <= MAX_TRACKED) break;
        this.failures.delete(key);
      }
    }
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }

  private prune(now: number): void {
    for (const [key, entry] of this.failures) if (now >= entry.resetAt) this.failures.delete(key);
  }
}

export function unauthenticated(detail = "Not authenticated"): ApiError {
  return new ApiError(401, { detail }, { "www-authenticate": "Bearer" });
}

export class Auth {
  readonly limiter: FailureLimiter;
  private accessKey: Uint8Array;
  private readonly compareKey = randomBytes(32);
  private requestKey: Uint8Array | undefined;
  /** The account; replaced as a whole by rotate(). */
  private credentials: Credentials;
  private readonly verified = new Map<string, { user: string; jti: string; expiresAt: number }>();
  /** jti -> expiry (ms) of tokens ended by a logout. */
  private readonly revoked = new Map<string, number>();

  constructor(
    readonly config: SidecarConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.limiter = new FailureLimiter(config.authMaxFailures, config.authWindowSeconds * 1000, now);
    this.credentials = { user: config.user, token: config.token, secretKey: config.secretKey };
    this.accessKey = this.newAccessKey();
    this.requestKey = this.newRequestKey();
  }

  private newAccessKey(): Uint8Array {
    const ikm = this.credentials.secretKey ?? randomBytes(32).toString("hex");
    return new Uint8Array(hkdfSync("sha256", ikm, randomBytes(32), "flux-sidecar access token v1", 32));
  }

  private newRequestKey(): Uint8Array | undefined {
    return this.credentials.secretKey ? new TextEncoder().encode(this.credentials.secretKey) : undefined;
  }

  /** The account's user name. */
  get user(): string {
    return this.credentials.user;
  }

  /**
   * New credentials (a rotated Secret): from now on only they are accepted, and every access token
   * and session issued before ends, since a rotation usually means the old ones may be known.
   */
  rotate(credentials: Credentials): void {
    this.credentials = { ...credentials };
    this.accessKey = this.newAccessKey();
    this.requestKey = this.newRequestKey();
    this.verified.clear();
    this.revoked.clear();
  }

  get loginConfigured(): boolean {
    return Boolean(this.credentials.token);
  }

  /** Constant-time check of user and token against the account (FLUX_USER / FLUX_TOKEN). */
  checkCredentials(user: unknown, token: unknown): boolean {
    const expected = this.credentials;
    if (!expected.token || typeof user !== "string" || typeof token !== "string") return false;
    const userOk = this.equal(user, expected.user);
    const tokenOk = this.equal(token, expected.token);
    return userOk && tokenOk;
  }

  private equal(a: string, b: string): boolean {
    const digest = (s: string) => createHmac("sha256", this.compareKey).update(s).digest();
    return timingSafeEqual(digest(a), digest(b));
  }

  async issueAccessToken(user: string): Promise<string> {
    const issuedAt = Math.floor(this.now() / 1000);
    return new SignJWT({ scope: ACCESS_SCOPE })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(user)
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.config.accessTokenExpiresMinutes * 60)
      .sign(this.accessKey);
  }

  /** The user an access token names, or undefined when it is invalid, expired or of another kind. */
  async verifyAccessToken(token: string): Promise<string | undefined> {
    // Verified tokens are remembered until they expire: a client sends the same one many times.
    const known = this.verified.get(token);
    if (known) {
      // Checked on every hit: one token has several accepted spellings (a base64url signature's
      // last character carries spare bits), so a revocation cannot find all its cache entries.
      if (this.now() < known.expiresAt && !this.revoked.has(known.jti)) return known.user;
      this.verified.delete(token);
      if (this.revoked.has(known.jti)) return undefined;
    }
    try {
      const { payload } = await jwtVerify(token, this.accessKey, { algorithms: ["HS256"], currentDate: new Date(this.now()) });
      if (payload.scope !== ACCESS_SCOPE || payload.sub !== this.credentials.user || typeof payload.exp !== "number") return undefined;
      if (payload.jti === undefined || this.revoked.has(payload.jti)) return undefined;
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
      this.verified.set(token, { user: payload.sub, jti: payload.jti, expiresAt: payload.exp * 1000 });
      return payload.sub;
    } catch {
      return undefined;
    }
  }

  /**
   * Ends an access token before its expiry (logout): as a cookie and as a Bearer token alike.
   * The list is bounded: when it is full of unexpired tokens, the signing key is replaced, which
   * ends every token at once (everyone logs in again) rather than forgetting a revocation.
   */
  async revoke(token: string): Promise<void> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.accessKey, { algorithms: ["HS256"], currentDate: new Date(this.now()) }));
    } catch {
      return; // invalid or expired: nothing to end
    }
    if (typeof payload.jti !== "string" || typeof payload.exp !== "number") return;
    const now = this.now();
    for (const [jti, expiresAt] of this.revoked) if (expiresAt <= now) this.revoked.delete(jti);
    if (this.revoked.size >= REVOKED_MAX) {
      this.accessKey = this.newAccessKey();
      this.revoked.clear();
      this.verified.clear();
      return;
    }
    this.revoked.set(payload.jti, payload.exp * 1000);
  }

  /**
   * A token-request JWT {user, pass, scope:"token"}: whether it is signed with FLUX_SECRET_KEY,
   * and the user when its credentials are also right.
   */
  async verifyTokenRequest(jwt: string): Promise<{ signed: boolean; user?: string }> {
    if (!this.requestKey) return { signed: false };
    try {
      const { payload } = await jwtVerify(jwt, this.requestKey, { algorithms: ["HS256"], currentDate: new Date(this.now()) });
      if (payload.scope !== "token" || !payload.user || !payload.pass) return { signed: true };
      return { signed: true, user: this.checkCredentials(payload.user, payload.pass) ? (payload.user as string) : undefined };
    } catch {
      return { signed: false };
    }
  }

  csrfToken(accessToken: string): string {
    return createHmac("sha256", this.accessKey).update(`csrf:${accessToken}`).digest("base64url");
  }

  checkCsrf(accessToken: string, presented: string | undefined): boolean {
    return typeof presented === "string" && presented.length > 0 && this.equal(presented, this.csrfToken(accessToken));
  }

  /** The client the limiter counts: its address (an IPv6 /64), from the proxy's last hop when one is trusted. */
  clientAddress(req: ApiRequest): string {
    if (this.config.trustProxy) {
      const hops = req.header("x-forwarded-for")?.split(",").map((s) => s.trim()).filter(Boolean);
      if (hops?.length) return clientKey(hops[hops.length - 1]);
    }
    return clientKey(req.remoteAddress);
  }

  /** Throws 429 when the client (or `key`) has failed too often; use before checking credentials. */
  assertNotLimited(req: ApiRequest, key = this.clientAddress(req)): string {
    const wait = this.limiter.retryAfter(key);
    if (wait > 0) {
      throw new ApiError(429, { detail: "Too many failed authentication attempts; try again later." }, { "retry-after": String(wait) });
    }
    return key;
  }

  /** The scheme the client used: https when TLS ends here, or at a trusted proxy that says so. */
  clientUsesHttps(req: ApiRequest): boolean {
    if (this.config.tls) return true;
    if (!this.config.trustProxy) return false;
    return req.header("x-forwarded-proto")?.split(",").pop()?.trim().toLowerCase() === "https";
  }

  /** The Set-Cookie header of a browser session holding `accessToken`. */
  sessionCookie(accessToken: string, req: ApiRequest): string {
    return stringifySetCookie({
      name: SESSION_COOKIE,
      value: accessToken,
      httpOnly: true,
      sameSite: "strict",
      secure: this.clientUsesHttps(req),
      path: "/",
      maxAge: this.config.accessTokenExpiresMinutes * 60,
    });
  }

  /** The Set-Cookie header that ends the browser session. */
  clearedSessionCookie(req: ApiRequest): string {
    return stringifySetCookie({
      name: SESSION_COOKIE,
      value: "",
      httpOnly: true,
      sameSite: "strict",
      secure: this.clientUsesHttps(req),
      path: "/",
      maxAge: 0,
      expires: new Date(0),
    });
  }

  /** The session user and CSRF token from the cookie, when the cookie holds a valid token. */
  async session(req: ApiRequest): Promise<{ user: string; accessToken: string } | undefined> {
    const accessToken = req.cookie(SESSION_COOKIE);
    if (!accessToken) return undefined;
    const user = await this.verifyAccessToken(accessToken);
    return user ? { user, accessToken } : undefined;
  }

  /**
   * Authenticates a request from its Authorization header or session cookie, setting req.user
   * and req.via; throws 401/403/429 when it must be refused.
   * `required` = the route needs a user even when FLUX_REQUIRE_AUTH is off (service stop).
   */
  async authenticate(req: ApiRequest, opts: { required?: boolean } = {}): Promise<void> {
    const mandatory = this.config.requireAuth || opts.required;
    const header = req.header("authorization");
    if (header) {
      const [scheme, ...rest] = header.trim().split(/\s+/);
      const credential = rest.join(" ");
      if (/^bearer$/i.test(scheme) && credential) {
        const user = await this.verifyAccessToken(credential);
        if (!user) {
          if (!mandatory) return; // a stale token must not break an open server
          throw unauthenticated("Could not validate credentials");
        }
        req.user = user;
        req.via = "bearer";
        return;
      }
      if (/^basic$/i.test(scheme) && credential) {
        const address = this.assertNotLimited(req);
        const decoded = Buffer.from(credential, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        const ok = colon > 0 && this.checkCredentials(decoded.slice(0, colon), decoded.slice(colon + 1));
        if (!ok) {
          this.limiter.fail(address);
          if (!mandatory) return;
          throw unauthenticated("Incorrect user or token");
        }
        this.limiter.succeed(address);
        req.user = decoded.slice(0, colon);
        req.via = "basic";
        return;
      }
    }
    const session = await this.session(req);
    if (session) {
      if (UNSAFE_METHODS.has(req.method)) {
        const presented = req.header("x-csrf-token") ?? (await formField(req, "csrf_token"));
        if (!this.checkCsrf(session.accessToken, presented)) {
          throw new ApiError(403, { detail: "CSRF token missing or invalid" });
        }
      }
      req.user = session.user;
      req.via = "cookie";
      return;
    }
    if (mandatory) throw unauthenticated();
  }
}

/**
 * A plain HTML form's CSRF field. Only a small urlencoded body is read for it, before the route:
 * a large or multipart body is the route's to read under its own bounds (the web UI sends the
 * X-CSRF-Token header).
 */
async function formField(req: ApiRequest, name: string): Promise<string | undefined> {
  const type = req.header("content-type") ?? "";
  const length = Number(req.header("content-length"));
  if (!/^application\/x-www-form-urlencoded/i.test(type) || !(length <= MAX_CSRF_FORM_BYTES)) return undefined;
  try {
    const form = await req.form();
    const value = form[name];
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}
