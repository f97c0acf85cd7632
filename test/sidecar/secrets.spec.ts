/**
 * Secrets never reach the logs (at any level, whatever the client sends) nor a job's environment
 * (jobs get a curated base environment plus the user's envars, never the server's).
 */
import assert from "node:assert/strict";
import { startBroker } from "../support/broker";
import { accessToken, apiFor, type Broker, q, type Sidecar, startTestSidecar, submit, tokenRequestJwt, waitInactive } from "./support";

describe("sidecar: secrets", function () {
  this.timeout(60_000);
  let broker: Broker;
  let sidecar: Sidecar;
  const saved = { ...process.env };

  before(async () => {
    broker = await startBroker();
    sidecar = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_LOG_LEVEL: "trace" });
    // The server process itself holds the secrets in its environment, as in a pod.
    process.env.FLUX_SECRET_KEY = sidecar.secretKey;
    process.env.FLUX_TOKEN = sidecar.token;
    process.env.SERVER_ONLY_MARKER = "server-environment-leaked";
  });
  after(async () => {
    for (const key of ["FLUX_SECRET_KEY", "FLUX_TOKEN", "SERVER_ONLY_MARKER"]) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await sidecar?.close();
    await broker?.stop();
  });

  it("jobs see a curated environment plus envars, never the server's (printenv / env)", async () => {
    const api = apiFor(sidecar, await accessToken(sidecar));
    for (const command of ["printenv", "env"]) {
      const id = await submit(api, q({ command }), { headers: { "content-type": "application/json" }, body: '{"MY_VAR":"mine"}' });
      await waitInactive(api, id);
      const output = ((await (await api(`/v1/jobs/${id}/output`)).json()) as { Output: string[] }).Output.join("");
      assert.match(output, /^MY_VAR=mine$/m);
      assert.match(output, /^PATH=/m);
      for (const secret of [sidecar.secretKey, sidecar.token, "server-environment-leaked"]) {
        assert.ok(!output.includes(secret), `${command} output contains a server secret`);
      }
      assert.doesNotMatch(output, /^(FLUX_SECRET_KEY|FLUX_TOKEN|FLUX_USER|SERVER_ONLY_MARKER)=/m);
    }
  });

  it("no secret, token or password appears in the log, whatever was sent", async () => {
    const token = await accessToken(sidecar);
    const requestJwt = await tokenRequestJwt(sidecar.user, sidecar.token, sidecar.secretKey);
    const wrongJwt = await tokenRequestJwt(sidecar.user, "wrong-password-xyz", sidecar.secretKey);
    const basic = Buffer.from(`${sidecar.user}:${sidecar.token}`).toString("base64");
    const login = await fetch(`${sidecar.url}/ui/login`, { method: "POST", body: new URLSearchParams({ user: sidecar.user, token: sidecar.token }) });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
    await fetch(`${sidecar.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${wrongJwt}` } });
    await fetch(`${sidecar.url}/v1/nodes`, { headers: { authorization: `Basic ${basic}` } });
    await fetch(`${sidecar.url}/v1/nodes`, { headers: { cookie } });
    await fetch(`${sidecar.url}/v1/jobs?token=${sidecar.token}`, { headers: { authorization: `Bearer ${token}` } });
    await fetch(`${sidecar.url}/v1/jobs/${sidecar.token}/output`, { headers: { authorization: `Bearer ${token}` } }); // in the request line's path
    await fetch(`${sidecar.url}/v1/jobs/submit?command=true&workdir=${sidecar.secretKey}`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    const log = sidecar.logLines.join("\n");
    assert.ok(sidecar.logLines.length > 5);
    assert.match(log, /listening on/); // the banner
    for (const secret of [sidecar.secretKey, sidecar.token, token, requestJwt, wrongJwt, basic, cookie.split("=")[1], "wrong-password-xyz"]) {
      assert.ok(!log.includes(secret), `log contains ${secret.slice(0, 12)}…`);
    }
    const banner = JSON.parse(sidecar.logLines.find((l) => l.includes("listening on"))!) as Record<string, unknown>;
    assert.equal(banner.token, "********");
    assert.equal(banner.secretKey, "********");
  });
});
