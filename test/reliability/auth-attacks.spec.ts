/**
 * Attacks on authentication with FLUX_REQUIRE_AUTH on: missing, garbage, expired and tampered
 * tokens, `alg: none`, tokens signed with the shared secret instead of the server's own key,
 * Basic with a wrong token, path spellings that might slip past the guard, brute force on the
 * token routes (429 + Retry-After), and the browser session's CSRF check.
 */
import assert from "node:assert/strict";
import { SignJWT, base64url, decodeJwt } from "jose";
import { Auth } from "../../sidecar/api/auth";
import { Router } from "../../sidecar/api/http";
import { jsonResponse } from "../../sidecar/api/json";
import { loadConfig } from "../../sidecar/config";
import { startBroker } from "../support/broker";
import { serveRouter, type ServedRouter } from "../support/serve-router";
import { fetchAccessToken, tokenRequestJwt } from "./support/auth";
import { rawRequest } from "./support/raw-http";
import { sidecarEnv, startHarness, submit, type Broker, type Harness } from "./support/harness";

const enc = (value: object) => base64url.encode(JSON.stringify(value));

/** Every route that needs credentials when auth is on (ids are filled in per test). */
function protectedRoutes(id: string): Array<[method: string, path: string]> {
  return [
    ["GET", "/v1/jobs"],
    ["GET", "/v1/jobs?details=true&listing=true"],
    ["GET", "/v1/jobs/search"],
    ["GET", `/v1/jobs/${id}`],
    ["GET", `/v1/jobs/${id}/output`],
    ["GET", `/v1/jobs/${id}/output/stream`],
    ["GET", `/v1/jobs/${id}/output/events`],
    ["GET", `/v1/jobs/${id}/events`],
    ["POST", "/v1/jobs/submit?command=true"],
    ["POST", `/v1/jobs/${id}/cancel`],
    ["GET", "/v1/nodes"],
    ["POST", "/v1/service/stop"],
    ["GET", "/metrics"],
  ];
}

/** 401 with WWW-Authenticate: Bearer and a JSON detail, as the Python client expects. */
async function assertRejected(res: Response, detail: string | RegExp, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 401, `${what}: ${res.status} ${text.slice(0, 200)}`);
  assert.equal(res.headers.get("www-authenticate"), "Bearer", `${what}: WWW-Authenticate`);
  const body = JSON.parse(text) as { detail: string };
  if (typeof detail === "string") assert.equal(body.detail, detail, what);
  else assert.match(body.detail, detail, what);
}

/**
 * The sidecar's Auth on a clock the test moves, guarding a one-route app served with the real
 * listener and error mapping: token expiry cannot be waited for (the shortest lifetime is a minute).
 */
const servedRouters: ServedRouter[] = [];

async function authOnTestClock(h: Harness) {
  const clock = { now: Date.now() };
  const config = loadConfig(sidecarEnv(h.broker.uri, h.broker.size, h.creds, { FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "1" }));
  const auth = new Auth(config, () => clock.now);
  const router = new Router((req) => auth.authenticate(req));
  router.get("/v1/jobs", (req) => jsonResponse({ user: req.user }));
  const served = await serveRouter(router);
  servedRouters.push(served);
  return { clock, auth, get: (headers: Record<string, string>) => served.request("/v1/jobs", { headers }) };
}

describe("reliability: auth attacks", function () {
  this.timeout(20_000);
  let broker: Broker;
  let h: Harness;
  let jobId: string;
  let token: string;

  before(async () => {
    broker = await startBroker();
    // A high failure limit here: the brute-force tests below use their own sidecar.
    h = await startHarness({ broker, env: { FLUX_AUTH_MAX_FAILURES: "1000" } });
    jobId = await submit(h, "true");
    token = (await h.authorization()).slice("Bearer ".length);
  });

  after(async () => {
    await Promise.all(servedRouters.map((served) => served.close()));
    await h?.stop();
    await broker?.stop();
  });

  const bearer = (value: string) => ({ headers: { authorization: `Bearer ${value}` } });

  it("answers every protected route without credentials with 401 + WWW-Authenticate, stream routes included", async () => {
    for (const [method, path] of protectedRoutes(jobId)) {
      await assertRejected(await fetch(h.url + path, { method }), "Not authenticated", `${method} ${path}`);
    }
  });

  it("leaves only the health, docs and UI shell routes open", async () => {
    for (const path of ["/", "/healthz", "/readyz", "/openapi.json", "/docs", "/ui/login"]) {
      const res = await fetch(h.url + path);
      await res.arrayBuffer();
      assert.equal(res.status, 200, path);
    }
  });

  it("rejects a garbage, empty-signature or truncated bearer token on every protected route", async () => {
    const [header, payload, signature] = token.split(".");
    const bad = ["not.a.jwt", "garbage", `${header}.${payload}.`, `${header}.${payload}`, `${header}..${signature}`, "a".repeat(4000)];
    for (const value of bad) {
      for (const [method, path] of protectedRoutes(jobId)) {
        await assertRejected(await fetch(h.url + path, { method, ...bearer(value) }), /^(Could not validate credentials|Not authenticated)$/, `${value.slice(0, 20)} on ${path}`);
      }
    }
  });

  it("rejects a tampered token: changed subject, expiry or scope, or a flipped signature bit", async () => {
    const [header, payload, signature] = token.split(".");
    const claims = decodeJwt(token);
    const forged = [
      { ...claims, sub: "root" },
      { ...claims, exp: Number(claims.exp) + 10 * 365 * 86400 },
      { ...claims, scope: "admin" },
    ].map((c) => `${header}.${enc(c)}.${signature}`);
    const flipped = signature.slice(0, -2) + (signature.at(-2) === "A" ? "B" : "A") + signature.at(-1);
    forged.push(`${header}.${payload}.${flipped}`);
    for (const value of forged) await assertRejected(await h.api("/v1/jobs", bearer(value)), "Could not validate credentials", value);
    assert.notEqual(payload, "", "sanity: the genuine token still works");
    assert.equal((await h.api("/v1/jobs", bearer(token))).status, 200);
  });

  it("rejects alg:none and algorithm-confusion tokens", async () => {
    const claims = { sub: h.creds.user, scope: "access", exp: Math.floor(Date.now() / 1000) + 3600 };
    const secret = new TextEncoder().encode(h.creds.secretKey);
    const tokens = [
      `${enc({ alg: "none", typ: "JWT" })}.${enc(claims)}.`,
      `${enc({ alg: "None", typ: "JWT" })}.${enc(claims)}.`,
      `${enc({ alg: "HS256", typ: "JWT" })}.${enc(claims)}.`,
      await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(secret),
      await new SignJWT(claims).setProtectedHeader({ alg: "HS384" }).sign(secret),
      `${enc({ alg: "RS256", typ: "JWT" })}.${enc(claims)}.${base64url.encode("not a signature")}`,
    ];
    for (const value of tokens) await assertRejected(await h.api("/v1/jobs", bearer(value)), "Could not validate credentials", value.slice(0, 40));
  });

  it("rejects tokens signed with the shared FLUX_SECRET_KEY instead of the server's own key", async () => {
    const secret = new TextEncoder().encode(h.creds.secretKey);
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const forgeries = [
      // What a Python-server access token looks like: {sub, exp} signed with the shared secret.
      await new SignJWT({ sub: h.creds.user, exp }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret),
      await new SignJWT({ sub: "1", exp }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret),
      // The same claims our server puts in its tokens, but signed with the shared secret.
      await new SignJWT({ ...decodeJwt(token) }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret),
      // The token-request JWT itself (signed with the shared secret) used as an access token.
      await tokenRequestJwt(h.creds),
    ];
    for (const value of forgeries) await assertRejected(await h.api("/v1/jobs", bearer(value)), "Could not validate credentials", value.slice(0, 40));
  });

  it("rejects an expired access token with 401 (not 403), even one it has already accepted", async () => {
    const { clock, auth, get } = await authOnTestClock(h);
    const issued = await auth.issueAccessToken(h.creds.user);
    assert.equal((await get({ authorization: `Bearer ${issued}` })).status, 200, "fresh token");
    clock.now += 61_000;
    await assertRejected(await get({ authorization: `Bearer ${issued}` }), "Could not validate credentials", "expired");
  });

  it("rejects a token issued by another sidecar instance with the same secrets (a restart invalidates tokens)", async () => {
    const other = await startHarness({ broker, env: { FLUX_AUTH_MAX_FAILURES: "1000" } });
    try {
      const foreign = await fetchAccessToken(other.url, other.creds);
      await assertRejected(await h.api("/v1/jobs", bearer(foreign)), "Could not validate credentials", "foreign token");
    } finally {
      await other.stop();
    }
  });

  it("rejects /v1/token requests that are unsigned, wrongly signed, expired or for the wrong user or scope, with 400 Denied (never 401)", async () => {
    const wrongSecret = { ...h.creds, secretKey: `${h.creds.secretKey}x` };
    const requests = [
      undefined,
      "Bearer",
      "Bearer garbage",
      `Bearer ${await tokenRequestJwt(wrongSecret)}`,
      `Bearer ${await tokenRequestJwt({ ...h.creds, token: "wrong" })}`,
      `Bearer ${await tokenRequestJwt({ ...h.creds, user: "root" })}`,
      `Bearer ${await tokenRequestJwt(h.creds, { scope: "access" })}`,
      `Bearer ${await tokenRequestJwt(h.creds, { exp: Math.floor(Date.now() / 1000) - 60 })}`,
      `Bearer ${enc({ alg: "none" })}.${enc({ user: h.creds.user, pass: h.creds.token, scope: "token" })}.`,
      `Basic ${Buffer.from(`${h.creds.user}:${h.creds.token}`).toString("base64")}x`,
    ];
    for (const authorization of requests) {
      const res = await fetch(`${h.url}/v1/token`, { method: "POST", headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 400, `${authorization?.slice(0, 30)}: ${res.status}`);
      assert.deepEqual(await res.json(), { Message: "Denied" });
    }
  });

  it("rejects Basic credentials with a wrong token, a wrong user, or no password", async () => {
    const basic = (s: string) => ({ headers: { authorization: `Basic ${Buffer.from(s).toString("base64")}` } });
    for (const pair of [`${h.creds.user}:wrong`, `root:${h.creds.token}`, `${h.creds.user}:`, `:${h.creds.token}`, h.creds.user, `${h.creds.user}:${token}`]) {
      await assertRejected(await fetch(`${h.url}/v1/jobs`, basic(pair)), "Incorrect user or token", pair);
    }
    assert.equal((await fetch(`${h.url}/v1/jobs`, basic(`${h.creds.user}:${h.creds.token}`))).status, 200, "sanity: the right pair works");
  });

  it("does not let path spellings slip past the auth guard", async () => {
    const spellings = ["//v1/jobs", "/v1//jobs", "/v1/jobs/", "/V1/jobs", "/v1/%6Aobs", "/%76%31/jobs", "/v1/./jobs", "/x/../v1/jobs", "/v1/jobs%2F", "/v1/jobs;x", "/v1/nodes/", "//metrics"];
    for (const path of spellings) {
      const res = await rawRequest(h.port, { method: "GET", path });
      assert.ok([400, 401, 404].includes(res.status), `${path} answered ${res.status} without credentials: ${res.body.slice(0, 120)}`);
      assert.doesNotMatch(res.body, /"jobs":|"nodes":|flux_sidecar_/, `${path} leaked data`);
    }
  });

  describe("brute force", () => {
    let limited: Harness;
    const MAX_FAILURES = 5;

    beforeEach(async () => {
      limited = await startHarness({ broker, env: { FLUX_AUTH_MAX_FAILURES: String(MAX_FAILURES), FLUX_AUTH_WINDOW_SECONDS: "60" } });
    });

    afterEach(async () => {
      await limited?.stop();
    });

    async function assertLockedOut(res: Response, what: string): Promise<void> {
      const text = await res.text();
      assert.equal(res.status, 429, `${what}: ${res.status} ${text}`);
      const wait = Number(res.headers.get("retry-after"));
      assert.ok(Number.isInteger(wait) && wait > 0 && wait <= 60, `${what}: Retry-After ${res.headers.get("retry-after")}`);
      assert.match(JSON.parse(text).detail, /Too many failed authentication attempts/);
    }

    it("on /v1/token: 400 Denied up to the limit, then 429 + Retry-After even for the right credentials", async () => {
      const wrong = await tokenRequestJwt({ ...limited.creds, token: "guess" });
      for (let i = 0; i < MAX_FAILURES; i++) {
        const res = await fetch(`${limited.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${wrong}` } });
        assert.equal(res.status, 400, `attempt ${i + 1}`);
        await res.arrayBuffer();
      }
      await assertLockedOut(await fetch(`${limited.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${wrong}` } }), "next guess");
      const right = await tokenRequestJwt(limited.creds);
      await assertLockedOut(await fetch(`${limited.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${right}` } }), "right credentials during the lockout");
    });

    it("on Basic auth, /v1/login/access-token and /ui/login: the failures add up to one lockout per address", async () => {
      const attempts: Array<() => Promise<Response>> = [
        () => fetch(`${limited.url}/v1/jobs`, { headers: { authorization: `Basic ${Buffer.from(`${limited.creds.user}:guess`).toString("base64")}` } }),
        () => fetch(`${limited.url}/v1/login/access-token`, { method: "POST", body: new URLSearchParams({ username: limited.creds.user, password: "guess" }) }),
        () => fetch(`${limited.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: limited.creds.user, token: "guess" }) }),
      ];
      for (let i = 0; i < MAX_FAILURES; i++) {
        const res = await attempts[i % attempts.length]();
        assert.ok([400, 401].includes(res.status), `attempt ${i + 1}: ${res.status}`);
        await res.arrayBuffer();
      }
      for (const [i, attempt] of attempts.entries()) await assertLockedOut(await attempt(), `route ${i} after the limit`);
    });
  });

  describe("browser session", () => {
    async function login(): Promise<{ cookie: string; csrfToken: string }> {
      const res = await fetch(`${h.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: h.creds.user, token: h.creds.token }) });
      assert.equal(res.status, 200);
      const setCookie = res.headers.get("set-cookie") ?? "";
      assert.match(setCookie, /HttpOnly/i);
      assert.match(setCookie, /SameSite=Strict/i);
      const { csrfToken } = (await res.json()) as { csrfToken: string };
      return { cookie: setCookie.split(";")[0], csrfToken };
    }

    it("refuses an unsafe request carried by the session cookie without its CSRF token (403), accepts it with the token", async () => {
      const { cookie, csrfToken } = await login();
      const other = await login();
      assert.notEqual(other.csrfToken, csrfToken, "each session has its own CSRF token");
      // Change the first character, which carries six full bits, so the tampered token always differs.
      const tampered = `${csrfToken[0] === "A" ? "B" : "A"}${csrfToken.slice(1)}`;
      const submitPath = `${h.url}/v1/jobs/submit`;
      const form = (extra: Record<string, string> = {}) => new URLSearchParams({ command: "true", ...extra });
      const forged: Array<[string, RequestInit]> = [
        ["form POST without a token", { method: "POST", headers: { cookie }, body: form() }],
        ["form POST with a wrong token", { method: "POST", headers: { cookie }, body: form({ csrf_token: "x".repeat(43) }) }],
        ["JSON POST without a token", { method: "POST", headers: { cookie, "content-type": "application/json" }, body: '{"command":"true"}' }],
        ["header token from another session", { method: "POST", headers: { cookie, "x-csrf-token": other.csrfToken }, body: form() }],
        ["tampered header token", { method: "POST", headers: { cookie, "x-csrf-token": tampered }, body: form() }],
      ];
      for (const [what, init] of forged) {
        const res = await fetch(submitPath, init);
        assert.equal(res.status, 403, what);
        assert.deepEqual(await res.json(), { detail: "CSRF token missing or invalid" }, what);
      }
      const cancel = await fetch(`${h.url}/v1/jobs/${jobId}/cancel`, { method: "POST", headers: { cookie } });
      assert.equal(cancel.status, 403, "cancel without a CSRF token");
      await cancel.arrayBuffer();
      const stop = await fetch(`${h.url}/v1/service/stop`, { method: "POST", headers: { cookie } });
      assert.ok([401, 403].includes(stop.status), `service stop via cookie without CSRF: ${stop.status}`);
      await stop.arrayBuffer();
      const ok = await fetch(submitPath, { method: "POST", headers: { cookie, "x-csrf-token": csrfToken }, body: form() });
      assert.equal(ok.status, 200, "with the CSRF header");
      await ok.arrayBuffer();
      const okForm = await fetch(submitPath, { method: "POST", headers: { cookie }, body: form({ csrf_token: csrfToken }) });
      assert.equal(okForm.status, 200, "with the CSRF form field");
      await okForm.arrayBuffer();
      assert.equal((await fetch(`${h.url}/v1/jobs`, { headers: { cookie } })).status, 200, "safe methods need no CSRF token");
    });

    it("rejects a forged or expired session cookie", async () => {
      const { cookie } = await login();
      const [name, value] = cookie.split("=");
      await assertRejected(await fetch(`${h.url}/v1/jobs`, { headers: { cookie: `${name}=${value}x` } }), "Not authenticated", "tampered cookie");
      const { clock, auth, get } = await authOnTestClock(h);
      const session = `${name}=${await auth.issueAccessToken(h.creds.user)}`;
      assert.equal((await get({ cookie: session })).status, 200, "fresh session");
      clock.now += 61_000;
      await assertRejected(await get({ cookie: session }), "Not authenticated", "expired session");
    });
  });
});
