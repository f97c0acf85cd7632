/**
 * Credentials from a mounted Secret, read again when the kubelet swaps it; the bundle watch. The
 * directories are laid out as the kubelet lays them out (test/support/projected-volume.ts).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, CREDENTIAL_FILES, loadConfig, readCredentials } from "../../sidecar/config";
import { RELOAD_EXIT_CODE, VolumeWatcher, bundleVersion, currentFilesDir, volumeVersion, watchBundle } from "../../sidecar/reload";
import { buildSidecar, SIDECAR_BUNDLE } from "../../scripts/build";
import { createLogger, secretScrubber } from "../../sidecar/log";
import { startSidecar } from "../../sidecar/server";
import { startBroker, type BrokerHandle } from "../support/broker";
import { updateProjectedVolume, writeProjectedVolume } from "../support/projected-volume";
import { lineCollector } from "./support";

const files = (user: string, token: string, secretKey: string) => ({ [CREDENTIAL_FILES.user]: user, [CREDENTIAL_FILES.token]: token, [CREDENTIAL_FILES.secretKey]: secretKey });
const quietLog = () => createLogger({ level: "silent", secrets: [] });

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("sidecar: mounted credentials and bundle", () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "reload-")); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("FLUX_CREDENTIALS_DIR", () => {
    it("reads user, token and secret key from the Secret's files, one trailing newline dropped", () => {
      writeProjectedVolume(dir, files("alice", "tok\n", "key"));
      const c = loadConfig({ FLUX_REQUIRE_AUTH: "true", FLUX_CREDENTIALS_DIR: dir });
      assert.deepEqual([c.user, c.token, c.secretKey, c.credentialsDir], ["alice", "tok", "key", dir]);
    });

    it("refuses credentials in the environment beside it, naming them (one source, no guessing)", () => {
      writeProjectedVolume(dir, files("alice", "tok", "key"));
      assert.throws(() => loadConfig({ FLUX_CREDENTIALS_DIR: dir, FLUX_TOKEN: "t", FLUX_USER: "u" }),
        (err: unknown) => err instanceof ConfigError && err.message === "FLUX_USER, FLUX_TOKEN must not be set with FLUX_CREDENTIALS_DIR, which holds the credentials");
    });

    it("names the missing file when auth is required, and refuses a file too large or not a file (a FIFO does not hang)", () => {
      writeProjectedVolume(dir, { [CREDENTIAL_FILES.user]: "alice", [CREDENTIAL_FILES.secretKey]: "key" });
      assert.throws(() => loadConfig({ FLUX_REQUIRE_AUTH: "true", FLUX_CREDENTIALS_DIR: dir }), new RegExp(`${dir}/token must be set when FLUX_REQUIRE_AUTH is true`));
      const big = fs.mkdtempSync(path.join(dir, "big-"));
      fs.writeFileSync(path.join(big, "token"), "x".repeat(4097));
      assert.throws(() => readCredentials(big, false), /token is larger than 4096 bytes/);
      const fifo = fs.mkdtempSync(path.join(dir, "fifo-"));
      execFileSync("mkfifo", [path.join(fifo, "token")]);
      assert.throws(() => readCredentials(fifo, false), /token is not a file/);
    });
  });

  describe("volumeVersion and VolumeWatcher", () => {
    it("the version is the ..data link's target: it changes with each kubelet update, not otherwise", () => {
      writeProjectedVolume(dir, files("a", "t1", "k1"));
      const v1 = volumeVersion(dir, Object.values(CREDENTIAL_FILES));
      assert.equal(volumeVersion(dir, Object.values(CREDENTIAL_FILES)), v1);
      assert.match(v1, /^link:\.\./);
      updateProjectedVolume(dir, files("a", "t2", "k1"));
      assert.notEqual(volumeVersion(dir, Object.values(CREDENTIAL_FILES)), v1);
    });

    it("without a ..data link (plain files), any file's replacement is a new version", () => {
      fs.writeFileSync(path.join(dir, "token"), "t1");
      const v1 = volumeVersion(dir, ["token"]);
      fs.writeFileSync(path.join(dir, "token.new"), "t2");
      fs.renameSync(path.join(dir, "token.new"), path.join(dir, "token"));
      assert.notEqual(volumeVersion(dir, ["token"]), v1);
    });

    it("calls back once per new version, and never after stop()", async () => {
      writeProjectedVolume(dir, files("a", "t1", "k1"));
      let calls = 0;
      const watcher = new VolumeWatcher(dir, Object.values(CREDENTIAL_FILES), 20, () => { calls++; }, quietLog());
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls, 0, "no change, no call");
      updateProjectedVolume(dir, files("a", "t2", "k1"));
      await until("the change seen", () => calls === 1);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls, 1, "once per version");
      watcher.stop();
      updateProjectedVolume(dir, files("a", "t3", "k1"));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls, 1);
    });

    it("tries a version again at the next check when applying it failed (a read across the kubelet's swap), logging it once", async () => {
      writeProjectedVolume(dir, files("a", "t1", "k1"));
      const lines: string[] = [];
      let calls = 0;
      const watcher = new VolumeWatcher(dir, Object.values(CREDENTIAL_FILES), 20, () => {
        calls++;
        if (calls <= 3) throw new Error("torn read");
      }, createLogger({ level: "info", secrets: [], destination: lineCollector(lines) }));
      updateProjectedVolume(dir, files("a", "t2", "k1"));
      await until("applied on the fourth try", () => calls === 4);
      await new Promise((r) => setTimeout(r, 100));
      watcher.stop();
      assert.equal(calls, 4, "not called again once applied");
      assert.equal(lines.filter((l) => l.includes("could not apply the changed files")).length, 1);
    });

    it("reads every credential from the version ..data names, never a mix across a swap", () => {
      writeProjectedVolume(dir, files("a", "t1", "k1"));
      const current = currentFilesDir(dir);
      assert.equal(current, path.join(dir, fs.readlinkSync(path.join(dir, "..data"))));
      assert.equal(fs.readFileSync(path.join(current, "token"), "utf8"), "t1");
      assert.equal(currentFilesDir(path.join(dir, "..data")), path.join(dir, "..data"), "a plain directory is read as it is");
    });

    it("the bundle watch compares with the version read when the process started, so an update before the watch began counts", async () => {
      writeProjectedVolume(dir, { "sidecar.js": "// v1" });
      const started = bundleVersion(path.join(dir, "sidecar.js"));
      updateProjectedVolume(dir, { "sidecar.js": "// v2" });
      let newBundle = false;
      const watcher = watchBundle(path.join(dir, "sidecar.js"), started, 20, () => { newBundle = true; }, quietLog());
      await until("the new bundle seen", () => newBundle);
      watcher.stop();
    });
  });

  it("the log scrubber also hides secrets added after it was made", () => {
    const secrets = ["old-secret"];
    const scrub = secretScrubber(secrets);
    assert.equal(scrub("old-secret new-secret"), "[redacted] new-secret");
    secrets.push("new-secret");
    assert.equal(scrub("old-secret new-secret"), "[redacted] [redacted]");
  });

  describe("a running sidecar", function () {
    this.timeout(30_000);
    let broker: BrokerHandle;
    before(async () => { broker = await startBroker(); });
    after(async () => { await broker?.stop(); });

    it("the bundle's process: a new bundle mounted beside it ends it with status 75 after a clean shutdown", async () => {
      if (!fs.existsSync(SIDECAR_BUNDLE)) await buildSidecar();
      const bundleDir = path.join(dir, "bundle");
      writeProjectedVolume(bundleDir, { "sidecar.js": fs.readFileSync(SIDECAR_BUNDLE, "utf8") });
      const child = spawn(process.execPath, [path.join(bundleDir, "sidecar.js")], {
        env: { PATH: process.env.PATH, FLUX_URI: broker.uri, HOST: "127.0.0.1", PORT: "0", FLUX_BUNDLE_FILE: path.join(bundleDir, "sidecar.js"), FLUX_RELOAD_POLL_SECONDS: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      try {
        await until("listening", () => output.includes("Flux RESTful sidecar listening"));
        updateProjectedVolume(bundleDir, { "sidecar.js": "// the next build\n" });
        assert.equal(await exited, RELOAD_EXIT_CODE, output);
        assert.match(output, /a new bundle is mounted/);
        assert.match(output, /"msg":"stopped"/, "shut down cleanly first");
      } finally {
        child.kill("SIGKILL");
      }
    });

    it("takes rotated credentials at once: the old token and earlier access tokens refused, the new token accepted, logged without them", async () => {
      const first = { user: "alice", token: randomBytes(12).toString("hex"), secretKey: randomBytes(16).toString("hex") };
      writeProjectedVolume(dir, files(first.user, first.token, first.secretKey));
      const lines: string[] = [];
      const config = loadConfig({
        FLUX_URI: broker.uri, FLUX_REQUIRE_AUTH: "true", FLUX_CREDENTIALS_DIR: dir, FLUX_RELOAD_POLL_SECONDS: "1", HOST: "127.0.0.1", PORT: "0",
      });
      const sidecar = await startSidecar(config, { logDestination: lineCollector(lines) });
      try {
        const basic = (user: string, token: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}` });
        const status = async (headers: Record<string, string>) => (await fetch(`${sidecar.url}/v1/jobs`, { headers })).status;
        assert.equal(await status(basic(first.user, first.token)), 200);
        const login = await fetch(`${sidecar.url}/v1/login/access-token`, { method: "POST", body: new URLSearchParams({ username: first.user, password: first.token }) });
        const { access_token: access } = (await login.json()) as { access_token: string };
        assert.equal(await status({ authorization: `Bearer ${access}` }), 200);

        const next = { user: "bob", token: randomBytes(12).toString("hex"), secretKey: randomBytes(16).toString("hex") };
        updateProjectedVolume(dir, files(next.user, next.token, next.secretKey));
        // Polled with the old token, which succeeds until the reload: failures would trip the rate limit.
        await until("the old token refused", async () => (await status(basic(first.user, first.token))) === 401);
        assert.equal(await status(basic(next.user, next.token)), 200);
        assert.equal(await status({ authorization: `Bearer ${access}` }), 401, "a rotation ends the access tokens issued before it");
        const relogin = await fetch(`${sidecar.url}/v1/login/access-token`, { method: "POST", body: new URLSearchParams({ username: next.user, password: next.token }) });
        assert.equal(relogin.status, 200);

        // A broken update (the token file missing) ends the current credentials too (fail closed: a
        // rotation usually means they may be known), until a valid version comes.
        fs.rmSync(path.join(dir, "token"));
        updateProjectedVolume(dir, { [CREDENTIAL_FILES.user]: "carol", [CREDENTIAL_FILES.secretKey]: "k" });
        await until("the refusal logged", () => lines.some((l) => l.includes("could not apply the changed files")));
        assert.ok(lines.some((l) => l.includes("the earlier credentials are refused until the Secret holds valid ones")));
        assert.equal(await status(basic(next.user, next.token)), 401);
        const third = { user: "dave", token: randomBytes(12).toString("hex"), secretKey: randomBytes(16).toString("hex") };
        updateProjectedVolume(dir, files(third.user, third.token, third.secretKey));
        await until("the valid version applied", () => lines.filter((l) => l.includes("credentials reloaded")).length === 2);
        assert.equal(await status(basic(third.user, third.token)), 200);

        const log = lines.join("\n");
        assert.match(log, /credentials reloaded/);
        for (const secret of [first.token, first.secretKey, next.token, next.secretKey, third.token, third.secretKey]) assert.ok(!log.includes(secret), "no credential in the log");
      } finally {
        await sidecar.close();
      }
    });
  });
});
