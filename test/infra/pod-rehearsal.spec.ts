/**
 * The sidecar container run the way the rendered MiniCluster describes it, in a private mount
 * namespace that lays out the pod's files: the container's own command text under `sh -c` on the
 * lead broker (JOB_COMPLETION_INDEX=0) in its working directory, its environment, the credentials
 * Secret and the bundle ConfigMap at their mount paths in the kubelet's layout (`..data` links),
 * and the broker's socket at the path of the operator's view (FLUX_URI). Then /readyz, a submit and
 * its output; then the upgrades that keep the pod: new credentials swapped in the way the kubelet
 * does are taken by the running process (the old token refused, the new one accepted, no restart),
 * and a new bundle makes the container's loop start node again, which serves the new bundle.
 * This proves the glue (command, paths, variable names, node flags) rather than the objects.
 * The test broker stands in for Flux in CI; inside `flux start` (FLUX_CONTRACT_REAL=1) it is the
 * real one. `node` in the command is the pod image's Node (installed from the npm registry, see
 * test/support/pod-node.ts), or this one where that cannot be had. Needs root and util-linux
 * `unshare`; says so and skips otherwise.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FLUX_OPERATOR } from "../../components/flux-operator.build";
import {
  buildCredentialsSecret,
  buildMiniCluster,
  buildSidecarConfigMap,
  CREDENTIALS_MOUNT_PATH,
  SIDECAR_CONTAINER,
  SIDECAR_MOUNT_PATH,
} from "../../components/minicluster.build";
import { updateProjectedVolume, writeProjectedVolume } from "../support/projected-volume";
import { socketPathFromUri } from "../../sidecar/flux/uri";
import { buildSidecar, SIDECAR_BUNDLE } from "../../scripts/build";
import { freePort } from "../support/free-port";
import { startBroker, type BrokerHandle } from "../support/broker";
import { podNode } from "../support/pod-node";

function unshareWorks(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  try {
    execFileSync("unshare", ["-m", "--propagation", "private", "true"], { stdio: "ignore" });
    return undefined;
  } catch (err) {
    return `unshare -m failed: ${(err as Error).message}`;
  }
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

describe("infra: the sidecar container rehearsed as the MiniCluster runs it", function () {
  this.timeout(60_000);
  const why = unshareWorks();
  let broker: BrokerHandle;
  let dir: string;
  let pod: ChildProcess | undefined;
  let output = "";
  let nodeDir = path.dirname(process.execPath);

  before(async function () {
    if (why) {
      console.log(`      pod rehearsal skipped: ${why}`);
      this.skip();
    }
    if (!fs.existsSync(SIDECAR_BUNDLE)) await buildSidecar();
    const pod = await podNode();
    if ("execPath" in pod) nodeDir = path.dirname(pod.execPath);
    else console.log(`      the pod's Node ${pod.version} cannot be had (${pod.skip}): rehearsing on ${process.version}`);
    broker = await startBroker();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pod-rehearsal-"));
  });

  after(async () => {
    pod?.kill("SIGKILL");
    await broker?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;
  const banners = () => output.split("\n").filter((line) => line.includes("Flux RESTful sidecar listening")).length;
  async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      assert.equal(pod!.exitCode, null, `the container exited: ${output}`);
      assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let url: string;
  let credentials: { user: string; token: string; secretKey: string };
  let credentialsDir: string;
  let configMapDir: string;
  let bundle: string;
  let secretOf: (c: typeof credentials) => Record<string, string>;

  it("serves /readyz, runs a submitted job and returns its output", async () => {
    bundle = fs.readFileSync(SIDECAR_BUNDLE, "utf8");
    const namespace = "flux-restful";
    const mc = buildMiniCluster({
      namespace, size: broker.size, maxSize: broker.size, operator: FLUX_OPERATOR, viewImage: FLUX_OPERATOR.viewImage, sidecarImage: "node",
      hasGpus: false, tokenExpiresMinutes: 60, tls: false,
    });
    const container = mc.spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;
    credentials = { user: "fluxuser", token: randomBytes(16).toString("hex"), secretKey: randomBytes(32).toString("hex") };
    secretOf = (c) => buildCredentialsSecret(namespace, c).stringData;
    const configMap = buildSidecarConfigMap(namespace, bundle);

    // The ConfigMap volume: each item's key written to its path, in the kubelet's layout.
    const volume = Object.values(container.volumes!).find((v) => v.configMapName === configMap.metadata.name)!;
    assert.equal(volume.path, SIDECAR_MOUNT_PATH);
    configMapDir = path.join(dir, "configmap");
    writeProjectedVolume(configMapDir, Object.fromEntries(Object.entries(volume.items!).map(([key, file]) => [file, configMap.data[key as keyof typeof configMap.data]])));
    // The Secret volume: every key a file.
    const secretVolume = Object.values(container.volumes!).find((v) => v.secretName === buildCredentialsSecret(namespace, credentials).metadata.name)!;
    assert.equal(secretVolume.path, CREDENTIALS_MOUNT_PATH);
    credentialsDir = path.join(dir, "credentials");
    writeProjectedVolume(credentialsDir, secretOf(credentials));

    const podSocket = socketPathFromUri(container.environment!.FLUX_URI);
    assert.equal(container.environment!.FLUX_URI, FLUX_OPERATOR.brokerUri);
    assert.equal(container.secrets, undefined, "no credentials in the environment");
    // The deviations from the spec: the port (5000 may be taken on a test machine), and how often
    // the mounted files are checked (the default 10 s would only make the test slower).
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: `${nodeDir}:/usr/bin:/bin`,
      JOB_COMPLETION_INDEX: "0",
      ...container.environment!,
      PORT: String(port),
      FLUX_RELOAD_POLL_SECONDS: "1",
    };
    // tmpfs over /mnt, /etc/flux-restful and the mount path's parent: nothing is created on the host's file system.
    const layout = [
      "set -e",
      "mount -t tmpfs tmpfs /mnt",
      `mkdir -p ${shellQuote(path.dirname(podSocket))} && touch ${shellQuote(podSocket)}`,
      `mount --bind ${shellQuote(socketPathFromUri(broker.uri))} ${shellQuote(podSocket)}`,
      `mount -t tmpfs tmpfs ${shellQuote(path.dirname(SIDECAR_MOUNT_PATH))}`,
      `mkdir -p ${shellQuote(SIDECAR_MOUNT_PATH)}`,
      `mount --bind -o ro ${shellQuote(configMapDir)} ${shellQuote(SIDECAR_MOUNT_PATH)}`,
      `mkdir -p ${shellQuote(path.dirname(CREDENTIALS_MOUNT_PATH))} && mount -t tmpfs tmpfs ${shellQuote(path.dirname(CREDENTIALS_MOUNT_PATH))}`,
      `mkdir -p ${shellQuote(CREDENTIALS_MOUNT_PATH)}`,
      `mount --bind -o ro ${shellQuote(credentialsDir)} ${shellQuote(CREDENTIALS_MOUNT_PATH)}`,
      // The container's working directory, which the runtime creates.
      `mount -t tmpfs tmpfs ${shellQuote(path.dirname(container.workingDir!))} && mkdir -p ${shellQuote(container.workingDir!)} && cd ${shellQuote(container.workingDir!)}`,
      `exec sh -c ${shellQuote(container.command!)}`,
    ].join("\n");
    pod = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", layout], { env, stdio: ["ignore", "pipe", "pipe"] });
    pod.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    pod.stderr!.on("data", (d: Buffer) => (output += d.toString()));

    url = `http://127.0.0.1:${port}`;
    let ready: Response | undefined;
    for (let i = 0; i < 300 && ready?.status !== 200; i++) {
      assert.equal(pod.exitCode, null, `the container exited: ${output}`);
      ready = await fetch(`${url}/readyz`).catch(() => undefined);
      if (ready?.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(ready?.status, 200, `not ready: ${output}`);
    assert.match(output, /"requireAuth":true/, "auth is on, from the spec's environment");
    const authorization = basic(credentials.user, credentials.token);
    const metrics = await fetch(`${url}/metrics`, { headers: { authorization } });
    console.log(`      rehearsed on node ${/nodejs_version_info\{version="([^"]+)"/.exec(await metrics.text())?.[1]}`);

    assert.equal((await fetch(`${url}/v1/jobs`)).status, 401, "credentials are required");
    const submitted = await fetch(`${url}/v1/jobs/submit?command=${encodeURIComponent("echo rehearsed")}`, { method: "POST", headers: { authorization } });
    const { id } = (await submitted.json()) as { id: number };
    assert.equal(submitted.status, 200);
    let lines: string[] = [];
    for (let i = 0; i < 200 && lines.length === 0; i++) {
      const res = (await (await fetch(`${url}/v1/jobs/${id}/output`, { headers: { authorization } })).json()) as { Output?: string[] };
      lines = res.Output ?? [];
      if (!lines.length) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(lines, ["rehearsed\n"]);
    assert.equal(banners(), 1);
  });

  it("takes rotated credentials in the running process: the old token refused, the new one accepted", async () => {
    assert.ok(url, "the first test started the container");
    const before = credentials;
    const login = await fetch(`${url}/v1/login/access-token`, { method: "POST", body: new URLSearchParams({ username: before.user, password: before.token }) });
    const { access_token: oldAccess } = (await login.json()) as { access_token: string };
    const rotated = { user: before.user, token: randomBytes(16).toString("hex"), secretKey: randomBytes(32).toString("hex") };
    updateProjectedVolume(credentialsDir, secretOf(rotated));
    const status = async (authorization: string) => (await fetch(`${url}/v1/jobs`, { headers: { authorization } })).status;
    // Polled with the old token, which succeeds until the reload: failures would trip the rate limit.
    await until("the old token refused", async () => (await status(basic(before.user, before.token))) === 401);
    assert.equal(await status(basic(rotated.user, rotated.token)), 200, "the new token is accepted");
    assert.equal(await status(`Bearer ${oldAccess}`), 401, "access tokens issued before the rotation end");
    assert.equal(banners(), 1, "the same process: no restart");
    assert.match(output, /credentials reloaded/);
    assert.ok(!output.includes(rotated.token) && !output.includes(rotated.secretKey), "the new credentials never reach the log");
    credentials = rotated;
  });

  it("starts the new bundle in the same container when the ConfigMap changes (the container's loop)", async () => {
    assert.ok(url, "the first test started the container");
    // The next build: the same code, saying so when loaded (appended: its "use strict" stays first).
    updateProjectedVolume(configMapDir, { "sidecar.js": `${bundle}\nprocess.stderr.write("the next build runs\\n");\n` });
    await until("the sidecar started again", async () => banners() === 2);
    assert.match(output, /a new bundle is mounted/);
    assert.equal(output.split("the next build runs").length, 2, "the new bundle is what runs now");
    await until("ready again", async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200);
    const res = await fetch(`${url}/v1/jobs`, { headers: { authorization: basic(credentials.user, credentials.token) } });
    assert.equal(res.status, 200, `the restarted sidecar reads the current credentials: ${await res.text()}\n${output}`);
  });

  it("ends with status 0 on SIGTERM", async () => {
    assert.ok(pod, "the first test started the container");
    pod!.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => (pod!.exitCode !== null ? resolve(pod!.exitCode) : pod!.once("exit", resolve)));
    assert.equal(code, 0, output);
  });
});
