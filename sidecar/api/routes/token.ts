/**
 * Credentials in, access tokens out: POST /v1/token (the Python client's handshake; never 401,
 * or that client would recurse), POST /v1/login/access-token (OAuth2 password form, as Swagger's
 * "Authorize" uses), and the browser session: POST /ui/login, POST /ui/logout, GET /ui/session.
 * Failures count against the client address; past the limit the answer is 429 + Retry-After.
 */
import type { Context } from "hono";
import { ApiError } from "../errors";
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse, toJson } from "../json";
import { parseJson } from "../../flux";

const DENIED = { Message: "Denied" };

/** A JSON answer through the context, so the Set-Cookie headers set on it are kept. */
function jsonWithCookies(c: Context, value: unknown): Response {
  return c.body(toJson(value), 200, { "content-type": "application/json" });
}

/** Fields of a JSON or form body; {} when there is none or it does not parse. */
async function bodyFields(c: Context): Promise<Record<string, unknown>> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  try {
    if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type)) return await c.req.parseBody();
    const text = await c.req.text();
    const value = text.trim() ? parseJson(text) : {};
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    throw new ApiError(400, { detail: "The request body is not valid JSON or form data" });
  }
}

export function registerToken(app: ApiApp, { auth, config, log }: ApiDeps): void {
  app.post("/v1/token", async (c) => {
    const address = auth.assertNotLimited(c);
    const header = c.req.header("authorization");
    if (!header) return jsonResponse(DENIED, 400);
    const user = await auth.verifyTokenRequest(header.trim().split(/\s+/).pop() ?? "");
    if (!user) {
      auth.limiter.fail(address);
      log.warn({ address }, "token request denied");
      return jsonResponse(DENIED, 400);
    }
    auth.limiter.succeed(address);
    log.info({ user, address }, "access token issued");
    return jsonResponse({ access_token: await auth.issueAccessToken(user), token_type: "Bearer" });
  });

  app.post("/v1/login/access-token", async (c) => {
    const address = auth.assertNotLimited(c);
    const form = await bodyFields(c);
    if (!auth.checkCredentials(form.username, form.password)) {
      auth.limiter.fail(address);
      return jsonResponse({ detail: "Incorrect email or password" }, 400);
    }
    auth.limiter.succeed(address);
    return jsonResponse({ access_token: await auth.issueAccessToken(config.user), token_type: "bearer" });
  });

  app.post("/ui/login", async (c) => {
    const address = auth.assertNotLimited(c);
    if (!auth.loginConfigured) return jsonResponse({ detail: "Login is not available: the server has no FLUX_TOKEN." }, 400);
    const form = await bodyFields(c);
    if (!auth.checkCredentials(form.user, form.token)) {
      auth.limiter.fail(address);
      log.warn({ address }, "browser login denied");
      return jsonResponse({ detail: "Incorrect user or token" }, 401);
    }
    auth.limiter.succeed(address);
    const accessToken = await auth.issueAccessToken(config.user);
    auth.setSessionCookie(c, accessToken);
    return jsonWithCookies(c, { user: config.user, csrfToken: auth.csrfToken(accessToken) });
  });

  app.post("/ui/logout", (c) => {
    auth.clearSessionCookie(c);
    return jsonWithCookies(c, { authRequired: config.requireAuth, user: null, csrfToken: null });
  });

  app.get("/ui/session", async (c) => {
    const session = await auth.session(c);
    return jsonResponse({
      authRequired: config.requireAuth,
      user: session?.user ?? null,
      csrfToken: session ? auth.csrfToken(session.accessToken) : null,
    });
  });
}
