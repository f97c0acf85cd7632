/**
 * The sidecar container run the way the rendered MiniCluster describes it, in a private mount
 * namespace that lays out the pod's files: the container's own command text under `sh -c` on the
 * lead broker (JOB_COMPLETION_INDEX=0), its environment with the secret references filled from
 * the credentials Secret's keys, the bundle ConfigMap's file at its mount path, and the broker's
 * socket at the path of the operator's view (FLUX_URI). Then /readyz, a submit and its output.
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
  SIDECAR_CONTAINER,
  SIDECAR_MOUNT_PATH,
} from "../../components/minicluster.build";
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

  it("serves /readyz, runs a submitted job and returns its output", async () => {
    const bundle = fs.readFileSync(SIDECAR_BUNDLE, "utf8");
    const namespace = "flux-restful";
    const mc = buildMiniCluster({
      namespace, size: broker.size, maxSize: broker.size, operator: FLUX_OPERATOR, viewImage: FLUX_OPERATOR.viewImage, sidecarImage: "node", bundle,
      hasGpus: false, tokenExpiresMinutes: 60, tls: false,
    });
    const container = mc.spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;
    const credentials = { user: "fluxuser", token: randomBytes(16).toString("hex"), secretKey: randomBytes(32).toString("hex") };
    const secret = buildCredentialsSecret(namespace, credentials);
    const configMap = buildSidecarConfigMap(namespace, bundle);

    // The ConfigMap volume: each item's key written to its path under the mount path.
    const volume = Object.values(container.volumes!).find((v) => v.configMapName === configMap.metadata.name)!;
    assert.equal(volume.path, SIDECAR_MOUNT_PATH);
    const configMapDir = path.join(dir, "configmap");
    fs.mkdirSync(configMapDir);
    for (const [key, file] of Object.entries(volume.items!)) fs.writeFileSync(path.join(configMapDir, file), configMap.data[key as keyof typeof configMap.data]);

    const podSocket = socketPathFromUri(container.environment!.FLUX_URI);
    assert.equal(container.environment!.FLUX_URI, FLUX_OPERATOR.brokerUri);
    // The one deviation from the spec: the port (5000 may be taken on a test machine).
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: `${nodeDir}:/usr/bin:/bin`,
      JOB_COMPLETION_INDEX: "0",
      ...container.environment!,
      ...Object.fromEntries(Object.entries(container.secrets!).map(([name, ref]) => {
        assert.equal(ref.name, secret.metadata.name);
        return [name, secret.stringData[ref.key as keyof typeof secret.stringData]];
      })),
      PORT: String(port),
    };
    // tmpfs over /mnt and the mount path's parent: nothing is created on the host's file system.
    const layout = [
      "set -e",
      "mount -t tmpfs tmpfs /mnt",
      `mkdir -p ${shellQuote(path.dirname(podSocket))} && touch ${shellQuote(podSocket)}`,
      `mount --bind ${shellQuote(socketPathFromUri(broker.uri))} ${shellQuote(podSocket)}`,
      `mount -t tmpfs tmpfs ${shellQuote(path.dirname(SIDECAR_MOUNT_PATH))}`,
      `mkdir -p ${shellQuote(SIDECAR_MOUNT_PATH)}`,
      `mount --bind -o ro ${shellQuote(configMapDir)} ${shellQuote(SIDECAR_MOUNT_PATH)}`,
      `exec sh -c ${shellQuote(container.command!)}`,
    ].join("\n");
    pod = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", layout], { env, stdio: ["ignore", "pipe", "pipe"] });
    pod.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    pod.stderr!.on("data", (d: Buffer) => (output += d.toString()));

    const url = `http://127.0.0.1:${port}`;
    let ready: Response | undefined;
    for (let i = 0; i < 300 && ready?.status !== 200; i++) {
      assert.equal(pod.exitCode, null, `the container exited: ${output}`);
      ready = await fetch(`${url}/readyz`).catch(() => undefined);
      if (ready?.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(ready?.status, 200, `not ready: ${output}`);
    assert.match(output, /"requireAuth":true/, "auth is on, from the spec's environment");
    const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.token}`).toString("base64")}` } });
    console.log(`      rehearsed on node ${/nodejs_version_info\{version="([^"]+)"/.exec(await metrics.text())?.[1]}`);

    const authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.token}`).toString("base64")}`;
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

    pod.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => pod!.once("exit", resolve));
    assert.equal(code, 0, output);
  });
});
