/** HTTPS to a stack whose certificate is signed by the stack's own CA: trusted with `caCertificate`, refused without. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { resolveConnection } from "../../client/src/cli/connection";
import { ConnectionError } from "../../client/src/errors";
import { Transport } from "../../client/src/transport";

// A test CA and a certificate for 127.0.0.1 it signed (openssl, valid for 100 years).
const TLS_DIR = path.join(__dirname, "support", "tls");
const CA = readFileSync(path.join(TLS_DIR, "ca.pem"), "utf8");
const CERT = readFileSync(path.join(TLS_DIR, "server.pem"), "utf8");
const KEY = readFileSync(path.join(TLS_DIR, "server.key"), "utf8");

describe("client over HTTPS with the stack's CA", () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer({ cert: CERT, key: KEY }, (_req, res) => res.end('{"nodes":["n0"]}'));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => server.close());

  it("trusts a server certificate signed by the given CA", async () => {
    const res = await new Transport({ baseUrl: url, timeoutMs: 5000, retries: 0, ca: CA }).send({ method: "GET", path: "v1/nodes" });
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"nodes":["n0"]}');
  });

  it("refuses it without the CA", async () => {
    await assert.rejects(new Transport({ baseUrl: url, timeoutMs: 5000, retries: 0 }).send({ method: "GET", path: "v1/nodes" }),
      (err: unknown) => err instanceof ConnectionError && /certificate/i.test(err.message));
  });

  it("takes the CA from the stack's caCertificate output with --stack, not for a --host of the user's", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tls-stack-"));
    try {
      const outputs = { url: "https://127.0.0.1:1", user: "u", token: "t", caCertificate: CA };
      writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs));
      writeFileSync(path.join(dir, "pulumi"), `#!/bin/sh\ncat "${dir}/outputs.json"\n`, { mode: 0o755 });
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
      const fromStack = await resolveConnection({ stack: "dev" }, env);
      assert.equal(fromStack.host, "https://127.0.0.1:1");
      assert.equal(fromStack.ca, CA);
      assert.equal((await resolveConnection({ stack: "dev", host: "https://example.org" }, env)).ca, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
