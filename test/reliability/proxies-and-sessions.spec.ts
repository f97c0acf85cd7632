/**
 * What the sidecar sees of clients behind a proxy, and the life of a session: the limiter keys
 * on the client a trusted proxy names (not on the proxy), guesses without the shared secret
 * cannot lock out the signed handshake, the cookie is Secure when the client used https,
 * logout ends the token on the server, and open streams are capped without listener warnings.
 */
import assert from "node:assert/strict";
import { tokenRequestJwt } from "./support/auth";
import { startBroker } from "../support/broker";
import { startHarness, submit, waitInactive, type Broker, type Harness } from "./support/harness";

const MAX_FAILURES = 3;
const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;

describe("reliability: proxies, sessions and stream limits", function () {
  this.timeout(30_000);
  let broker: Broker;
  const harnesses: Harness[] = [];

  before(async () => {
    broker = await startBroker();
  });

  after(async () => {
    await Promise.all(harnesses.map((h) => h.stop()));
    await broker?.stop();
  });

  async function harness(env: Record<string, string>): Promise<Harness> {
    const h = await startHarness({ broker, env: { FLUX_AUTH_MAX_FAILURES: String(MAX_FAILURES), ...env } });
    harnesses.push(h);
    return h;
  }

  async function status(res: Response): Promise<number> {
    await res.arrayBuffer();
    return res.status;
  }

  it("behind a trusted proxy, locks out the client the proxy names, not everyone behind it", async () => {
    const h = await harness({ FLUX_TRUST_PROXY: "true" });
    const as = (forwardedFor: string, token: string) =>
      fetch(`${h.url}/v1/jobs`, { headers: { authorization: basic(h.creds.user, token), "x-forwarded-for": forwardedFor } });
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal(await status(await as("203.0.113.9", "guess")), 401);
    assert.equal(await status(await as("203.0.113.9", h.creds.token)), 429, "the guesser is locked out");
    assert.equal(await status(await as("198.51.100.4", h.creds.token)), 200, "another client behind the same proxy is not");
    // The proxy appends the address it saw: a client cannot hide behind a hop it writes itself.
    assert.equal(await status(await as("198.51.100.4, 203.0.113.9", h.creds.token)), 429, "a spoofed first hop changes nothing");
  });

  it("without a trusted proxy, ignores X-Forwarded-For", async () => {
    const h = await harness({});
    for (let i = 0; i < MAX_FAILURES; i++) {
      const res = await fetch(`${h.url}/v1/jobs`, { headers: { authorization: basic(h.creds.user, "guess"), "x-forwarded-for": `192.0.2.${i}` } });
      assert.equal(await status(res), 401);
    }
    const res = await fetch(`${h.url}/v1/jobs`, { headers: { authorization: basic(h.creds.user, h.creds.token), "x-forwarded-for": "192.0.2.200" } });
    assert.equal(await status(res), 429);
  });

  it("does not let guesses without the shared secret lock out the signed token handshake of a shared address", async () => {
    const h = await harness({});
    for (let i = 0; i < MAX_FAILURES; i++) {
      assert.equal(await status(await fetch(`${h.url}/v1/jobs`, { headers: { authorization: basic(h.creds.user, "guess") } })), 401);
    }
    const unsigned = await fetch(`${h.url}/v1/token`, { method: "POST", headers: { authorization: "Bearer not-signed" } });
    assert.equal(await status(unsigned), 429, "unsigned token requests from the address are locked out");
    const signed = await fetch(`${h.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${await tokenRequestJwt(h.creds)}` } });
    assert.equal(signed.status, 200, "a request signed with the shared secret still gets its token");
    await signed.arrayBuffer();
  });

  it("limits signed token requests per address: a secret holder's guesses lock out only that address", async () => {
    const h = await harness({ FLUX_TRUST_PROXY: "true" });
    const token = async (forwardedFor: string, creds = h.creds) =>
      status(await fetch(`${h.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${await tokenRequestJwt(creds)}`, "x-forwarded-for": forwardedFor } }));
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal(await token("203.0.113.20", { ...h.creds, token: `guess${i}` }), 400);
    assert.equal(await token("203.0.113.20"), 429, "the guessing address is locked out");
    assert.equal(await token("198.51.100.20"), 200, "another address is not");
  });

  it("marks the session cookie Secure when the client used https through a trusted proxy, and only then", async () => {
    const login = async (h: Harness, proto?: string) => {
      const headers: Record<string, string> = proto ? { "x-forwarded-proto": proto } : {};
      const res = await fetch(`${h.url}/ui/login`, { method: "POST", headers, body: new URLSearchParams({ user: h.creds.user, token: h.creds.token }) });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      return res.headers.get("set-cookie") ?? "";
    };
    const proxied = await harness({ FLUX_TRUST_PROXY: "true" });
    assert.match(await login(proxied, "https"), /;\s*Secure/i);
    assert.doesNotMatch(await login(proxied, "http"), /;\s*Secure/i);
    assert.doesNotMatch(await login(proxied), /;\s*Secure/i);
    const direct = await harness({});
    assert.doesNotMatch(await login(direct, "https"), /;\s*Secure/i, "an untrusted header changes nothing");
  });

  it("ends the session on logout: the old cookie, and its value as a Bearer token, stop working", async () => {
    const h = await harness({});
    const res = await fetch(`${h.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: h.creds.user, token: h.creds.token }) });
    await res.arrayBuffer();
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
    const token = cookie.slice(cookie.indexOf("=") + 1);
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, { headers: { cookie } })), 200);
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })), 200);
    assert.equal(await status(await fetch(`${h.url}/ui/logout`, { method: "POST", headers: { cookie } })), 200);
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, { headers: { cookie } })), 401, "the old cookie");
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })), 401, "the token as Bearer");
    const session = (await (await fetch(`${h.url}/ui/session`, { headers: { cookie } })).json()) as { user: string | null };
    assert.equal(session.user, null);
    assert.equal(await status(await h.api("/v1/jobs")), 200, "other tokens are untouched");
  });

  it("refuses a logged-out token under every spelling, including one the server already saw", async () => {
    const h = await harness({});
    const res = await fetch(`${h.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: h.creds.user, token: h.creds.token }) });
    await res.arrayBuffer();
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
    const token = cookie.slice(cookie.indexOf("=") + 1);
    // The signature's last base64url character carries two spare bits: flipping one spells the same token.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const variant = token.slice(0, -1) + alphabet[alphabet.indexOf(token.at(-1)!) ^ 1];
    const bearer = (value: string) => ({ headers: { authorization: `Bearer ${value}` } });
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, bearer(variant))), 200, "the variant is accepted while the session lives");
    assert.equal(await status(await fetch(`${h.url}/ui/logout`, { method: "POST", headers: { cookie } })), 200);
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, bearer(variant))), 401, "the variant after logout");
    assert.equal(await status(await fetch(`${h.url}/v1/jobs`, bearer(token))), 401, "the original after logout");
  });

  it("caps open streams with a 429, and holds more than ten without a listener warning", async () => {
    const h = await harness({ FLUX_MAX_STREAMS: "12" });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    const held = new AbortController();
    try {
      const id = await submit(h, "sleep 30");
      const authorization = await h.authorization();
      const open = () => fetch(`${h.url}/v1/jobs/${id}/events`, { headers: { authorization }, signal: held.signal });
      const streams = await Promise.all(Array.from({ length: 12 }, open));
      assert.deepEqual(streams.map((s) => s.status), Array(12).fill(200));
      const over = await open();
      assert.equal(over.status, 429);
      assert.match(((await over.json()) as { detail: string }).detail, /at most 12 at once/);
      await h.api(`/v1/jobs/${id}/cancel`, { method: "POST" });
      await waitInactive(h, id);
      // Closing the server aborts every stream through one listener.
      await h.sidecar.close();
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => /MaxListeners|memory leak/i.test(w)), []);
    } finally {
      held.abort();
      process.off("warning", onWarning);
    }
  });
});
