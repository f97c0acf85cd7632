/**
 * Secrets stay secret: a sidecar (in its own process, secrets in its real environment as in a
 * pod) serves a full round of requests with auth on (logins good and bad, every route, streams,
 * errors, service stop) at debug level; then every line it logged and the environment of a
 * job it ran are scanned for the user token, the secret key, every access token it issued and
 * every credential sent to it, raw or encoded. None may appear.
 */
import assert from "node:assert/strict";
import { startBroker } from "../support/broker";
import { fetchAccessToken, randomCredentials, tokenRequestJwt } from "./support/auth";
import { startChildSidecar, type ChildSidecar } from "./support/child-sidecar";
import { apiCaller, outputOf, sidecarEnv, submit, type Broker } from "./support/harness";
import { StreamReader } from "./support/stream-reader";

/** The forms a secret can take on its way into a log line. */
function encodings(secret: string): string[] {
  const forms = [secret, Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("base64url"), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
  return [...new Set(forms)].filter((f) => f.length >= 8);
}

function findSecrets(text: string, secrets: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [label, secret] of secrets) if (encodings(secret).some((form) => text.includes(form))) found.push(label);
  return found;
}

describe("reliability: secrets in logs and job environments", function () {
  this.timeout(60_000);
  let broker: Broker;
  let sidecar: ChildSidecar;
  const creds = randomCredentials();
  /** label -> secret value */
  const secrets = new Map<string, string>([
    ["FLUX_TOKEN", creds.token],
    ["FLUX_SECRET_KEY", creds.secretKey],
    ["Basic credentials", `${creds.user}:${creds.token}`],
  ]);
  let jobEnvironment: string[] = [];

  before(async () => {
    broker = await startBroker();
    sidecar = await startChildSidecar(sidecarEnv(broker.uri, broker.size, creds, { FLUX_LOG_LEVEL: "trace", FLUX_AUTH_MAX_FAILURES: "1000" }));
    const url = sidecar.url;
    const remember = (label: string, value: string) => secrets.set(label, value);

    // Logins, good and bad, on every credential route.
    const requestJwt = await tokenRequestJwt(creds);
    remember("token-request JWT", requestJwt);
    const access = await fetchAccessToken(url, creds);
    remember("access token", access);
    const wrongJwt = await tokenRequestJwt({ ...creds, token: `${creds.token}-wrong` });
    remember("wrong token-request JWT", wrongJwt);
    await (await fetch(`${url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${wrongJwt}` } })).arrayBuffer();
    await (await fetch(`${url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${creds.secretKey}` } })).arrayBuffer();
    const form = await (await fetch(`${url}/v1/login/access-token`, { method: "POST", body: new URLSearchParams({ username: creds.user, password: creds.token }) })).json();
    remember("password-grant access token", (form as { access_token: string }).access_token);
    await (await fetch(`${url}/v1/login/access-token`, { method: "POST", body: new URLSearchParams({ username: creds.user, password: `${creds.token}-guess` }) })).arrayBuffer();
    const ui = await fetch(`${url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: creds.user, token: creds.token }) });
    const cookie = (ui.headers.get("set-cookie") ?? "").split(";")[0];
    remember("session cookie", cookie.split("=")[1]);
    remember("CSRF token", ((await ui.json()) as { csrfToken: string }).csrfToken);
    await (await fetch(`${url}/ui/session`, { headers: { cookie } })).arrayBuffer();
    await (await fetch(`${url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: creds.user, token: "nope-nope-nope" }) })).arrayBuffer();
    const basic = `Basic ${Buffer.from(`${creds.user}:${creds.token}`).toString("base64")}`;
    await (await fetch(`${url}/v1/nodes`, { headers: { authorization: basic } })).arrayBuffer();
    await (await fetch(`${url}/v1/nodes`, { headers: { authorization: `Basic ${Buffer.from(`${creds.user}:${creds.secretKey}`).toString("base64")}` } })).arrayBuffer();
    // Credentials where they do not belong: in a query string, as a bearer token, in a header.
    await (await fetch(`${url}/v1/jobs?access_token=${access}&token=${creds.token}`)).arrayBuffer();
    await (await fetch(`${url}/v1/jobs`, { headers: { authorization: `Bearer ${creds.token}` } })).arrayBuffer();
    await (await fetch(`${url}/v1/jobs`, { headers: { "x-flux-token": creds.token, cookie: `other=${creds.secretKey}` } })).arrayBuffer();

    // Every API route, successes and failures.
    const api = apiCaller(url, `Bearer ${access}`);
    const id = await submit(api, "printenv", "&num_tasks=1");
    jobEnvironment = await outputOf(api, id);
    const echo = await submit(api, `echo ${creds.user}`);
    for (const path of [
      "/v1/jobs",
      "/v1/jobs?details=true",
      "/v1/jobs?details=true&listing=true&limit=5",
      `/v1/jobs/search?search=${creds.user}`,
      `/v1/jobs/${id}`,
      `/v1/jobs/${echo}/output`,
      "/v1/jobs/abc",
      "/v1/jobs/12345/output",
      "/v1/nodes",
      "/metrics",
      "/openapi.json",
      "/readyz",
    ]) {
      await (await api.api(path)).arrayBuffer();
    }
    for (const stream of [`/v1/jobs/${echo}/output/stream`, `/v1/jobs/${echo}/output/events`, `/v1/jobs/${echo}/events`]) {
      await new StreamReader(await api.api(stream)).endWithin(10_000);
    }
    await (await api.api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ command: "true", envars: { NOT_SECRET: "x" } }) })).arrayBuffer();
    await (await api.api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: "{broken" })).arrayBuffer();
    await (await api.api(`/v1/jobs/${id}/cancel`, { method: "POST" })).arrayBuffer();
    const stop = await api.api("/v1/service/stop", { method: "POST" });
    assert.equal(stop.status, 200, "service stop");
    await stop.arrayBuffer();
    await sidecar.stop();
  });

  after(async () => {
    await sidecar?.stop();
    await broker?.stop();
  });

  it("logged a line for every request, with the start-up banner's secrets masked", () => {
    const lines = sidecar.output().split("\n").filter(Boolean);
    assert.ok(lines.length >= 40, `only ${lines.length} log lines`);
    const banner = lines.find((line) => line.includes("listening"));
    assert.ok(banner, "start-up banner");
    assert.match(banner, /"token":"\*+"/);
    assert.match(banner, /"secretKey":"\*+"/);
  });

  it("wrote no secret value, raw or encoded, to any log line", () => {
    const output = sidecar.output();
    assert.deepEqual(findSecrets(`planted ${Buffer.from(creds.token).toString("base64")}`, secrets), ["FLUX_TOKEN"], "the scan finds a planted secret");
    assert.deepEqual(findSecrets(output, secrets), [], "secrets found in the log");
    for (const line of output.split("\n").filter(Boolean)) assert.deepEqual(findSecrets(line, secrets), []);
  });

  it("gave the job none of the server's secrets or variables: a curated environment only", () => {
    assert.ok(jobEnvironment.some((line) => line.startsWith("PATH=")), `printenv output: ${jobEnvironment.join("")}`);
    assert.deepEqual(findSecrets(jobEnvironment.join(""), secrets), [], "secrets in the job environment");
    const leakedNames = jobEnvironment.map((line) => line.split("=")[0]).filter((name) => /^(FLUX_(TOKEN|SECRET_KEY|USER|REQUIRE_AUTH)|HOST|PORT|NODE_OPTIONS|npm_)/.test(name));
    assert.deepEqual(leakedNames, [], "server variables in the job environment");
  });
});
