/**
 * Auth on: the Python client's handshake replayed call by call, token expiry and invalid tokens
 * (401 so clients re-authenticate), HTTP Basic, rate limiting, the browser session with CSRF,
 * the public routes, and service/stop.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { startBroker } from "../support/broker";
import { accessToken, apiFor, type Broker, q, type Sidecar, startTestSidecar, tokenRequestJwt, waitInactive } from "./support";

const PROTECTED: Array<[string, string]> = [
  ["GET", "/v1/jobs"],
  ["GET", "/v1/jobs/search"],
  ["POST", "/v1/jobs/submit?command=true"],
  ["GET", "/v1/jobs/1"],
  ["GET", "/v1/jobs/1/events"],
  ["GET", "/v1/jobs/1/output"],
  ["GET", "/v1/jobs/1/output/stream"],
  ["GET", "/v1/jobs/1/output/events"],
  ["POST", "/v1/jobs/1/cancel"],
  ["GET", "/v1/nodes"],
  ["POST", "/v1/service/stop"],
  ["GET", "/metrics"],
];

describe("sidecar: auth", function () {
  this.timeout(60_000);
  let broker: Broker;
  let sidecar: Sidecar;

  before(async () => {
    broker = await startBroker();
    sidecar = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_AUTH_MAX_FAILURES: "3", FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "5" });
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
  });

  it("every protected route answers 401 {detail} with WWW-Authenticate: Bearer, streams included", async () => {
    for (const [method, path] of PROTECTED) {
      const res = await fetch(sidecar.url + path, { method });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get("www-authenticate"), "Bearer", path);
      assert.deepEqual(await res.json(), { detail: "Not authenticated" }, path);
    }
  });

  it("/, /healthz, /readyz, /openapi.json and /docs need no credentials", async () => {
    for (const path of ["/", "/healthz", "/readyz", "/openapi.json", "/docs"]) {
      const res = await fetch(sidecar.url + path);
      assert.equal(res.status, 200, path);
    }
    const doc = (await (await fetch(`${sidecar.url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    for (const path of ["/v1/jobs/submit", "/v1/jobs/{id}/output/events", "/v1/jobs/{id}/events", "/v1/token"]) assert.ok(doc.paths[path], path);
  });

  it("replays the Python client: query submit -> 401 -> POST /v1/token -> same fields as a JSON body", async () => {
    const data = { command: "printenv GREETING", num_tasks: 2, cores_per_task: 1, envars: { GREETING: "hi" } };
    const first = await fetch(`${sidecar.url}/v1/jobs/submit?${q({ command: data.command, num_tasks: 2, cores_per_task: 1 })}`, { method: "POST" });
    assert.equal(first.status, 401);
    assert.ok(first.headers.has("www-authenticate"));
    const token = await fetch(`${sidecar.url}/v1/token`, {
      method: "POST",
      headers: { Authorization: `Bearer ${await tokenRequestJwt(sidecar.user, sidecar.token, sidecar.secretKey)}` },
    });
    assert.equal(token.status, 200);
    const grant = (await token.json()) as { access_token: string; token_type: string };
    assert.deepEqual(Object.keys(grant), ["access_token", "token_type"]);
    assert.equal(grant.token_type, "Bearer");
    const retry = await fetch(`${sidecar.url}/v1/jobs/submit`, {
      method: "POST",
      headers: { Authorization: `Bearer ${grant.access_token}`, "content-type": "application/json" },
      body: JSON.stringify(data),
    });
    assert.equal(retry.status, 200);
    const id = String(/"id":(\d+)/.exec(await retry.text())?.[1]);
    const api = apiFor(sidecar, grant.access_token);
    const info = await waitInactive(api, id);
    assert.equal(info.ntasks, 2);
    const output = (await (await api(`/v1/jobs/${id}/output`)).json()) as { Output: string[] };
    assert.deepEqual(output.Output, ["hi\n", "hi\n"]);
  });

  it("POST /v1/token never answers 401: bad input is 400 {Message: Denied}", async () => {
    const fresh = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_AUTH_MAX_FAILURES: "100" });
    try {
      const key = new TextEncoder().encode(fresh.secretKey);
      const claims = { user: fresh.user, pass: fresh.token, scope: "token" };
      const jwts = [
        await tokenRequestJwt(fresh.user, "wrong", fresh.secretKey),
        await tokenRequestJwt(fresh.user, fresh.token, "another-secret"),
        await tokenRequestJwt(fresh.user, fresh.token, fresh.secretKey, { scope: "access" }),
        // alg "none" and another HMAC size are refused: only HS256
        `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`,
        await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(key),
        "garbage",
      ];
      let res = await fetch(`${fresh.url}/v1/token`, { method: "POST" });
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), { Message: "Denied" });
      for (const jwt of jwts) {
        res = await fetch(`${fresh.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${jwt}` } });
        assert.equal(res.status, 400, jwt);
        assert.deepEqual(await res.json(), { Message: "Denied" });
      }
      res = await fetch(`${fresh.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${await tokenRequestJwt(fresh.user, fresh.token, fresh.secretKey)}` } });
      assert.equal(res.status, 200);
    } finally {
      await fresh.close();
    }
  });

  it("tokens signed with FLUX_SECRET_KEY (the Python server's access tokens) are not access tokens here", async () => {
    const forged = await new SignJWT({ sub: "1" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(sidecar.secretKey));
    const requestJwt = await tokenRequestJwt(sidecar.user, sidecar.token, sidecar.secretKey);
    for (const token of [forged, requestJwt, "not.a.jwt"]) {
      const res = await fetch(`${sidecar.url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.deepEqual(await res.json(), { detail: "Could not validate credentials" });
    }
  });

  it("an access token expires after FLUX_ACCESS_TOKEN_EXPIRES_MINUTES with 401, and a new one works", async () => {
    const token = await accessToken(sidecar);
    const [, payload] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as { exp: number; iat: number; sub: string };
    assert.equal(claims.exp - claims.iat, 5 * 60);
    assert.equal(claims.sub, sidecar.user);
    const api = apiFor(sidecar, token);
    assert.equal((await api("/v1/nodes")).status, 200);
    sidecar.advanceClock(5 * 60_000 + 1000);
    try {
      const res = await api("/v1/nodes");
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.equal((await apiFor(sidecar, await accessToken(sidecar))("/v1/nodes")).status, 200);
    } finally {
      sidecar.advanceClock(-(5 * 60_000 + 1000));
    }
  });

  it("HTTP Basic user:token works for curl; a wrong one is 401", async () => {
    const good = Buffer.from(`${sidecar.user}:${sidecar.token}`).toString("base64");
    assert.equal((await fetch(`${sidecar.url}/v1/nodes`, { headers: { authorization: `Basic ${good}` } })).status, 200);
    const bad = Buffer.from(`${sidecar.user}:nope`).toString("base64");
    const res = await fetch(`${sidecar.url}/v1/nodes`, { headers: { authorization: `Basic ${bad}` } });
    assert.equal(res.status, 401);
    assert.ok(res.headers.has("www-authenticate"));
  });

  it("failed attempts are rate-limited per address: 429 with Retry-After, for token, Basic and login", async () => {
    const limited = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_AUTH_MAX_FAILURES: "3", FLUX_AUTH_WINDOW_SECONDS: "60" });
    try {
      const wrong = await tokenRequestJwt(limited.user, "wrong", limited.secretKey);
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${limited.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${wrong}` } });
        assert.equal(res.status, 400);
      }
      const right = await tokenRequestJwt(limited.user, limited.token, limited.secretKey);
      const blocked = [
        await fetch(`${limited.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${right}` } }),
        await fetch(`${limited.url}/v1/nodes`, { headers: { authorization: `Basic ${Buffer.from(`${limited.user}:${limited.token}`).toString("base64")}` } }),
        await fetch(`${limited.url}/ui/login`, { method: "POST", body: JSON.stringify({ user: limited.user, token: limited.token }), headers: { "content-type": "application/json" } }),
      ];
      for (const res of blocked) {
        assert.equal(res.status, 429);
        const retryAfter = Number(res.headers.get("retry-after"));
        assert.ok(retryAfter > 0 && retryAfter <= 60, String(retryAfter));
      }
      limited.advanceClock(61_000);
      const again = await fetch(`${limited.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${right}` } });
      assert.equal(again.status, 200);
    } finally {
      await limited.close();
    }
  });

  it("browser session: login sets an HttpOnly SameSite=Strict cookie; unsafe methods need the CSRF token", async () => {
    let res = await fetch(`${sidecar.url}/ui/session`);
    assert.deepEqual(await res.json(), { authRequired: true, user: null, csrfToken: null });
    res = await fetch(`${sidecar.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: sidecar.user, token: "wrong" }) });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), null); // no browser prompt
    res = await fetch(`${sidecar.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: sidecar.user, token: sidecar.token }) });
    assert.equal(res.status, 200);
    const { user, csrfToken } = (await res.json()) as { user: string; csrfToken: string };
    assert.equal(user, sidecar.user);
    const setCookie = res.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /^flux_session=[^;]+;/);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.doesNotMatch(setCookie, /Secure/); // plain HTTP here
    const cookie = setCookie.split(";")[0];

    res = await fetch(`${sidecar.url}/ui/session`, { headers: { cookie } });
    assert.deepEqual(await res.json(), { authRequired: true, user: sidecar.user, csrfToken });
    assert.equal((await fetch(`${sidecar.url}/v1/jobs`, { headers: { cookie } })).status, 200);
    res = await fetch(`${sidecar.url}/v1/jobs/submit?command=true`, { method: "POST", headers: { cookie } });
    assert.equal(res.status, 403);
    res = await fetch(`${sidecar.url}/v1/jobs/submit?command=true`, { method: "POST", headers: { cookie, "x-csrf-token": "wrong" } });
    assert.equal(res.status, 403);
    res = await fetch(`${sidecar.url}/v1/jobs/submit?command=true`, { method: "POST", headers: { cookie, "x-csrf-token": csrfToken } });
    assert.equal(res.status, 200);
    res = await fetch(`${sidecar.url}/v1/jobs/submit`, { method: "POST", headers: { cookie }, body: new URLSearchParams({ command: "true", csrf_token: csrfToken }) });
    assert.equal(res.status, 200);

    res = await fetch(`${sidecar.url}/ui/logout`, { method: "POST", headers: { cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("set-cookie") ?? "", /flux_session=;.*Max-Age=0/);
  });

  it("service/stop needs credentials even with auth off, answers, then shuts down", async () => {
    const open = await startTestSidecar(broker);
    let closed = false;
    void open.handle.stopped.then(() => (closed = true));
    let res = await fetch(`${open.url}/v1/service/stop`, { method: "POST" });
    assert.equal(res.status, 401);
    assert.equal(closed, false);
    const basic = Buffer.from(`${open.user}:${open.token}`).toString("base64");
    res = await fetch(`${open.url}/v1/service/stop`, { method: "POST", headers: { authorization: `Basic ${basic}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { Message: "The service is stopping." });
    await open.handle.stopped;
    await assert.rejects(fetch(`${open.url}/healthz`));
  });
});
