/**
 * Credentials in, access tokens out: POST /v1/token (the Python client's handshake; never 401,
 * or that client would recurse), POST /v1/login/access-token (OAuth2 password form, as Swagger's
 * "Authorize" uses), and the browser session: POST /ui/login, POST /ui/logout, GET /ui/session.
 * Failures count against the client address; past the limit the answer is 429 + Retry-After.
 */
import { SESSION_COOKIE } from "../auth";
import { ApiError } from "../errors";
import type { ApiApp, ApiDeps } from "../deps";
import type { ApiRequest, RouteOptions } from "../http";
import { jsonResponse } from "../json";
import { parseJson } from "../../flux";

const DENIED = { Message: "Denied" };
/** The limiter's key prefix for token requests signed with FLUX_SECRET_KEY (apart from the address's own). */
const SIGNED_HANDSHAKE = "signed-handshake";
/** These routes take credentials (or end a session): they cannot require them. */
const PUBLIC: RouteOptions = { access: "public" };

/** Fields of a JSON or form body; {} when there is none or it does not parse. */
async function bodyFields(req: ApiRequest): Promise<Record<string, unknown>> {
  const type = (req.header("content-type") ?? "").toLowerCase();
  try {
    if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type)) return await req.form();
    const text = await req.text();
    const value = text.trim() ? parseJson(text) : {};
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, { detail: "The request body is not valid JSON or form data" });
  }
}

export function registerToken(app: ApiApp, { auth, config, log }: ApiDeps): void {
  app.post("/v1/token", async (req) => {
    const header = req.header("authorization");
    if (!header) {
      auth.assertNotLimited(req);
      return jsonResponse(DENIED, 400);
    }
    const { signed, user } = await auth.verifyTokenRequest(header.trim().split(/\s+/).pop() ?? "");
    // A request signed with the shared secret comes from one of its holders: guesses without it
    // from a shared address (a NAT, a proxy) cannot lock it out. Its own failures count against
    // the address both ways.
    const address = auth.clientAddress(req);
    const key = auth.assertNotLimited(req, signed ? `${SIGNED_HANDSHAKE}:${address}` : address);
    if (!user) {
      auth.limiter.fail(address);
      if (signed) auth.limiter.fail(key);
      log.warn({ address, signed }, "token request denied");
      return jsonResponse(DENIED, 400);
    }
    auth.limiter.succeed(key);
    log.info({ user, address }, "access token issued");
    return jsonResponse({ access_token: await auth.issueAccessToken(user), token_type: "Bearer" });
  }, PUBLIC);

  app.post("/v1/login/access-token", async (req) => {
    const address = auth.assertNotLimited(req);
    const form = await bodyFields(req);
    if (!auth.checkCredentials(form.username, form.password)) {
      auth.limiter.fail(address);
      return jsonResponse({ detail: "Incorrect email or password" }, 400);
    }
    auth.limiter.succeed(address);
    return jsonResponse({ access_token: await auth.issueAccessToken(auth.user), token_type: "bearer" });
  }, PUBLIC);

  app.post("/ui/login", async (req) => {
    const address = auth.assertNotLimited(req);
    if (!auth.loginConfigured) return jsonResponse({ detail: "Login is not available: the server has no FLUX_TOKEN." }, 400);
    const form = await bodyFields(req);
    if (!auth.checkCredentials(form.user, form.token)) {
      auth.limiter.fail(address);
      log.warn({ address }, "browser login denied");
      return jsonResponse({ detail: "Incorrect user or token" }, 401);
    }
    auth.limiter.succeed(address);
    const accessToken = await auth.issueAccessToken(auth.user);
    return jsonResponse({ user: auth.user, csrfToken: auth.csrfToken(accessToken) }, 200, { "set-cookie": auth.sessionCookie(accessToken, req) });
  }, PUBLIC);

  app.post("/ui/logout", async (req) => {
    // The token ends on the server too: a copy of the cookie, or its value as a Bearer token, stops working.
    const accessToken = req.cookie(SESSION_COOKIE);
    if (accessToken) await auth.revoke(accessToken);
    return jsonResponse({ authRequired: config.requireAuth, user: null, csrfToken: null }, 200, { "set-cookie": auth.clearedSessionCookie(req) });
  }, PUBLIC);

  app.get("/ui/session", async (req) => {
    const session = await auth.session(req);
    return jsonResponse({
      authRequired: config.requireAuth,
      user: session?.user ?? null,
      csrfToken: session ? auth.csrfToken(session.accessToken) : null,
    });
  }, PUBLIC);
}
