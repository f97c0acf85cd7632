/** HTTPS with FLUX_TLS_CERT_FILE / FLUX_TLS_KEY_FILE; the session cookie is Secure under TLS. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { startBroker } from "../support/broker";
import { type Broker, type Sidecar, startTestSidecar } from "./support";

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A request that accepts the test's self-signed certificate. */
function request(url: string, method: string, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, rejectUnauthorized: false, headers: body ? { "content-type": "application/json" } : {} }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("sidecar: TLS", function () {
  this.timeout(30_000);
  let dir: string;
  let broker: Broker;
  let sidecar: Sidecar;

  before(async function () {
    if (!hasOpenssl()) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
    broker = await startBroker();
    sidecar = await startTestSidecar(broker, {
      FLUX_REQUIRE_AUTH: "true",
      FLUX_TLS_CERT_FILE: path.join(dir, "cert.pem"),
      FLUX_TLS_KEY_FILE: path.join(dir, "key.pem"),
    });
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serves HTTPS and marks the session cookie Secure", async () => {
    assert.match(sidecar.url, /^https:\/\//);
    assert.equal((await request(`${sidecar.url}/healthz`, "GET")).status, 200);
    assert.equal((await request(`${sidecar.url}/v1/nodes`, "GET")).status, 401);
    const login = await request(`${sidecar.url}/ui/login`, "POST", JSON.stringify({ user: sidecar.user, token: sidecar.token }));
    assert.equal(login.status, 200);
    assert.match(String(login.headers["set-cookie"]), /; Secure/);
  });
});
