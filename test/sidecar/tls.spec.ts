/**
 * HTTPS with FLUX_TLS_CERT_FILE / FLUX_TLS_KEY_FILE; the session cookie is Secure under TLS; a
 * renewed pair in those files is served without a restart (a mismatched one is refused).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
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
      FLUX_RELOAD_POLL_SECONDS: "1",
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

  it("serves a renewed certificate to new connections without a restart, and keeps the old one when the new key does not match", async () => {
    const served = () => new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: sidecar.handle.port, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      });
      socket.on("error", reject);
    });
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    const before = await served();
    assert.equal(before, fingerprint(fs.readFileSync(path.join(dir, "cert.pem"), "utf8")));
    const next = fs.mkdtempSync(path.join(dir, "next-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
      "-keyout", path.join(next, "key.pem"), "-out", path.join(next, "cert.pem")], { stdio: "ignore" });
    // A certificate without its key first: refused, the old pair still served.
    fs.copyFileSync(path.join(next, "cert.pem"), path.join(dir, "cert.pem.tmp"));
    fs.renameSync(path.join(dir, "cert.pem.tmp"), path.join(dir, "cert.pem"));
    const deadline = Date.now() + 10_000;
    while (!sidecar.logLines.some((l) => l.includes("could not apply the changed files"))) {
      assert.ok(Date.now() < deadline, "the mismatch was not logged");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await served(), before);
    fs.copyFileSync(path.join(next, "key.pem"), path.join(dir, "key.pem.tmp"));
    fs.renameSync(path.join(dir, "key.pem.tmp"), path.join(dir, "key.pem"));
    const renewed = fingerprint(fs.readFileSync(path.join(next, "cert.pem"), "utf8"));
    while ((await served()) !== renewed) {
      assert.ok(Date.now() < deadline + 10_000, "the renewed certificate was not served");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await request(`${sidecar.url}/healthz`, "GET")).status, 200);
  });
});
