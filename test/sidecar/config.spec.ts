/** Environment -> configuration: the Python server's names, real booleans, one clear error per problem. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, loadConfig, MINICLUSTER_SOCKETS, parseBool, submitBodyLimit } from "../../sidecar/config";
import { createLogger } from "../../sidecar/log";
import { waitForSocket } from "../../sidecar/socket";
import { lineCollector } from "./support";

describe("sidecar: configuration", () => {
  it("defaults: 0.0.0.0:5000, auth off, 600-minute tokens, MiniCluster socket search", () => {
    const c = loadConfig({});
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.port, 5000);
    assert.equal(c.requireAuth, false);
    assert.equal(c.user, "fluxuser");
    assert.equal(c.accessTokenExpiresMinutes, 600);
    assert.equal(c.fluxUri, undefined);
    assert.equal(c.numberNodes, undefined);
    assert.deepEqual(c.socketCandidates, MINICLUSTER_SOCKETS);
    assert.equal(c.socketCandidates[0], "/mnt/flux/view/run/flux/local");
  });

  it("stream and broker-message limits: FLUX_MAX_STREAMS (32), FLUX_MAX_MESSAGE_BYTES (8 MiB), bounded both ways", () => {
    const c = loadConfig({});
    assert.equal(c.maxStreams, 32);
    assert.equal(c.maxMessageBytes, 8 * 1024 * 1024);
    const set = loadConfig({ FLUX_MAX_STREAMS: "4", FLUX_MAX_MESSAGE_BYTES: "1048576" });
    assert.equal(set.maxStreams, 4);
    assert.equal(set.maxMessageBytes, 1048576);
    assert.throws(() => loadConfig({ FLUX_MAX_STREAMS: "0" }), /FLUX_MAX_STREAMS must be an integer between 1 and 4096/);
    assert.throws(() => loadConfig({ FLUX_MAX_MESSAGE_BYTES: "1000" }), /FLUX_MAX_MESSAGE_BYTES must be an integer between 65536 and 1073741824/);
    assert.throws(() => loadConfig({ FLUX_MAX_MESSAGE_BYTES: "2147483648" }), ConfigError);
  });

  it("a request timeout shorter than the headers timeout is a ConfigError naming both (Node would throw a RangeError at start)", () => {
    assert.throws(() => loadConfig({ FLUX_REQUEST_TIMEOUT_SECONDS: "5" }), /FLUX_REQUEST_TIMEOUT_SECONDS \(5\) must be at least FLUX_HEADERS_TIMEOUT_SECONDS \(10\)/);
    assert.equal(loadConfig({ FLUX_REQUEST_TIMEOUT_SECONDS: "5", FLUX_HEADERS_TIMEOUT_SECONDS: "5" }).requestTimeoutMs, 5000);
  });

  it("booleans: false, 0 and no are false (unlike the Python server's 'set means true')", () => {
    for (const v of ["false", "0", "no", "off", "", "FALSE"]) assert.equal(parseBool("X", v, true), false, v);
    for (const v of ["true", "1", "yes", "on", "True"]) assert.equal(parseBool("X", v, false), true, v);
    const env = { FLUX_TOKEN: "t", FLUX_SECRET_KEY: "s" };
    assert.equal(loadConfig({ ...env, FLUX_REQUIRE_AUTH: "false" }).requireAuth, false);
    assert.equal(loadConfig({ ...env, FLUX_REQUIRE_AUTH: "true" }).requireAuth, true);
    assert.equal(loadConfig({ FLUX_HAS_GPUS: "no" }).hasGpus, false);
  });

  it("reads every MiniCluster variable", () => {
    const c = loadConfig({
      FLUX_USER: "alice",
      FLUX_TOKEN: "tok",
      FLUX_SECRET_KEY: "sec",
      FLUX_REQUIRE_AUTH: "yes",
      FLUX_NUMBER_NODES: "4",
      FLUX_HAS_GPUS: "1",
      FLUX_OPTION_FLAGS: "-ompi=openmpi@5 cpu-affinity=per-task",
      FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "30",
      FLUX_URI: "local:///tmp/x/local",
      HOST: "127.0.0.1",
      PORT: "8080",
    });
    assert.deepEqual(
      [c.user, c.token, c.secretKey, c.requireAuth, c.numberNodes, c.hasGpus, c.accessTokenExpiresMinutes, c.fluxUri, c.host, c.port],
      ["alice", "tok", "sec", true, 4, true, 30, "local:///tmp/x/local", "127.0.0.1", 8080],
    );
    // as in Python, a leading "-o" is the flag, not part of the key: "-ompi=…" sets "mpi"
    assert.deepEqual(c.optionFlags, { mpi: "openmpi@5", "cpu-affinity": "per-task" });
  });

  it("invalid values: one ConfigError naming the variable", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ FLUX_REQUIRE_AUTH: "maybe" }, /^FLUX_REQUIRE_AUTH must be a boolean/],
      [{ FLUX_REQUIRE_AUTH: "true", FLUX_SECRET_KEY: "s" }, /^FLUX_TOKEN must be set/],
      [{ FLUX_REQUIRE_AUTH: "true", FLUX_TOKEN: "t" }, /^FLUX_SECRET_KEY must be set/],
      [{ PORT: "70000" }, /^PORT must be an integer between 0 and 65535/],
      [{ PORT: "http" }, /^PORT must be an integer/],
      [{ FLUX_NUMBER_NODES: "0" }, /^FLUX_NUMBER_NODES must be an integer/],
      [{ FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "-1" }, /^FLUX_ACCESS_TOKEN_EXPIRES_MINUTES must be an integer/],
      [{ FLUX_OPTION_FLAGS: "-ompi" }, /^FLUX_OPTION_FLAGS items must look like -okey=value/],
      [{ FLUX_URI: "ssh://host/path" }, /^FLUX_URI: unsupported FLUX_URI scheme/],
      [{ FLUX_TLS_CERT_FILE: "/x" }, /^FLUX_TLS_CERT_FILE and FLUX_TLS_KEY_FILE must be set together/],
      [{ FLUX_TLS_CERT_FILE: "/nonexistent/cert", FLUX_TLS_KEY_FILE: "/nonexistent/key" }, /^FLUX_TLS_CERT_FILE: cannot read \/nonexistent\/cert/],
      [{ FLUX_LOG_LEVEL: "loud" }, /^FLUX_LOG_LEVEL must be one of/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(env));
    }
  });

  it("workspace and file limits: FLUX_WORKSPACE (absolute, normalised) and the limits' defaults and bounds", () => {
    const defaults = loadConfig({});
    assert.equal(defaults.workspace, undefined);
    assert.equal(defaults.maxJobFilesBytes, 4 * 1024 * 1024);
    assert.equal(defaults.maxJobFiles, 64);
    assert.equal(defaults.maxUploadBytes, 1024 * 1024 * 1024);
    assert.equal(defaults.maxListEntries, 1000);
    // the submit route takes base64 (4/3) or escaped text (up to 2x) of the files, and room for the rest
    assert.equal(submitBodyLimit(defaults), 2 * 4 * 1024 * 1024 + 2048 * 64 + 64 * 1024);
    assert.equal(submitBodyLimit({ ...defaults, maxJobFilesBytes: 0, maxJobFiles: 0, maxBodyBytes: 1024 * 1024 }), 1024 * 1024);

    const set = loadConfig({
      FLUX_WORKSPACE: "/workspace/",
      FLUX_MAX_JOB_FILES_BYTES: "1024",
      FLUX_MAX_JOB_FILES: "3",
      FLUX_MAX_UPLOAD_BYTES: "0",
      FLUX_MAX_LIST_ENTRIES: "10",
    });
    assert.equal(set.workspace, "/workspace");
    assert.deepEqual([set.maxJobFilesBytes, set.maxJobFiles, set.maxUploadBytes, set.maxListEntries], [1024, 3, 0, 10]);
    assert.equal(loadConfig({ FLUX_WORKSPACE: "/a//b" }).workspace, "/a/b");
    assert.equal(loadConfig({ FLUX_WORKSPACE: "" }).workspace, undefined);

    for (const [name, value, message] of [
      ["FLUX_WORKSPACE", "workspace", /FLUX_WORKSPACE must be an absolute directory/],
      ["FLUX_WORKSPACE", "/a/../etc", /must not contain "\." or "\.\." parts/],
      ["FLUX_WORKSPACE", "/", /must not be "\/"/],
      ["FLUX_WORKSPACE", "/a\nb", /control characters/],
      ["FLUX_MAX_JOB_FILES_BYTES", "-1", /FLUX_MAX_JOB_FILES_BYTES must be an integer between 0 and/],
      ["FLUX_MAX_JOB_FILES_BYTES", "4MiB", /FLUX_MAX_JOB_FILES_BYTES must be an integer/],
      ["FLUX_MAX_JOB_FILES", "10001", /FLUX_MAX_JOB_FILES must be an integer between 0 and 10000/],
      ["FLUX_MAX_UPLOAD_BYTES", "1e9", /FLUX_MAX_UPLOAD_BYTES must be an integer/],
      ["FLUX_MAX_LIST_ENTRIES", "0", /FLUX_MAX_LIST_ENTRIES must be an integer between 1 and/],
    ] as const) {
      assert.throws(() => loadConfig({ [name]: value }), (err: Error) => err instanceof ConfigError && message.test(err.message), `${name}=${value}`);
    }
  });

  it("waits for a socket to appear, logging progress", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-sock-"));
    const lines: string[] = [];
    const log = createLogger({ level: "info", secrets: [], destination: lineCollector(lines) });
    const wanted = path.join(dir, "local");
    const server = net.createServer();
    try {
      const waiting = waitForSocket([path.join(dir, "absent"), wanted], log, { intervalMs: 20, logEveryMs: 50 });
      await new Promise((r) => setTimeout(r, 150));
      await new Promise<void>((resolve) => server.listen(wanted, resolve));
      assert.equal(await waiting, wanted);
      assert.ok(lines.some((l) => l.includes("waiting for the Flux broker socket")));
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
