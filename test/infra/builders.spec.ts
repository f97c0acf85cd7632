/** The pure builders (manifests, policies, kubeconfigs), tested without Pulumi. */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { DROPPED_OBJECTS, FLUX_OPERATOR, REMOVED_PROXY_CONTAINER, isPinnedManifestUrl, operatorObjects } from "../../components/flux-operator.build";
import {
  CREDENTIALS_MOUNT_PATH, CREDENTIALS_SECRET, MiniClusterInput, SIDECAR_COMMAND, SIDECAR_CONFIGMAP, SIDECAR_CONTAINER,
  SIDECAR_MOUNT_PATH, SIDECAR_PORT, SIDECAR_WORKDIR, TLS_MOUNT_PATH, TLS_SECRET, WORKSPACE_CLAIM_PATH, WORKSPACE_VOLUME,
  buildCredentialsSecret, buildMiniCluster, buildSidecarConfigMap, buildWorkspaceClaim, leadBrokerSelector,
  operatorMounts, operatorRuleViolations, workspaceClaimName, workspacePath,
} from "../../components/minicluster.build";
import { CREDENTIAL_FILES, RELOAD_EXIT_CODE } from "../../sidecar/mounts";
import {
  HEALTH_CHECK_PATH, SERVICE_NAME, albAnnotations, buildAlbIngress, buildService, clientCommand, endpointUrl,
} from "../../components/restful-endpoint.build";
import { buildGkeKubeconfig, buildNodePortFirewallArgs, nodeTagFor } from "../../components/gke-cluster.build";
import {
  LB_CONTROLLER, buildIrsaTrustPolicy, buildLbControllerPolicy, buildLbControllerValues, serviceAccountSubject,
} from "../../components/lb-controller.build";
import { subnetTags } from "../../components/eks-cluster.build";
import { kubeconfigContexts, singleContextKubeconfig } from "../../components/local-cluster.build";
import { OPERATOR_MANIFEST, TWO_CONTEXT_KUBECONFIG } from "./fixtures";

const base: MiniClusterInput = {
  namespace: "flux-restful",
  size: 4,
  maxSize: 4,
  operator: FLUX_OPERATOR,
  sidecarImage: "node:20-bookworm-slim",
  viewImage: FLUX_OPERATOR.viewImage,
  hasGpus: false,
  tokenExpiresMinutes: 600,
  tls: false,
};
const CLAIM: MiniClusterInput = { ...base, workspace: { kind: "claim", claimName: "shared-rwx" } };

describe("infra builders: MiniCluster", () => {
  const mc = buildMiniCluster(base);
  const sidecar = mc.spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;

  it("passes the operator's rules: one runFlux container, a named sidecar, volume key = configMapName, maxSize >= size", () => {
    for (const input of [base, CLAIM, { ...base, tls: true }, { ...CLAIM, tls: true }]) assert.deepEqual(operatorRuleViolations(buildMiniCluster(input)), []);
    assert.equal(mc.spec.containers.filter((c) => c.runFlux).length, 1);
    assert.ok(sidecar && !sidecar.runFlux);
    assert.equal(sidecar.volumes![SIDECAR_CONFIGMAP].configMapName, SIDECAR_CONFIGMAP);
    assert.ok(mc.spec.maxSize >= mc.spec.size);
  });

  it("uses only fields the v1alpha2 CRD defines (the API server would silently drop others)", () => {
    // Field names read from the pinned release's api/v1alpha2/minicluster_types.go (json tags).
    const specFields = ["size", "maxSize", "minSize", "interactive", "network", "logging", "flux", "containers", "pod", "tasks"];
    const containerFields = ["name", "image", "runFlux", "workingDir", "commands", "command", "environment", "secrets", "volumes", "ports", "resources"];
    const commandsFields = ["prefix", "script", "init", "pre", "post", "workerPre", "brokerPre", "servicePre"];
    const volumeFields = ["configMapName", "secretName", "path", "readOnly", "items", "claimName", "emptyDir", "hostPath"];
    for (const input of [{ ...base, tls: true }, { ...CLAIM, tls: true }]) {
      const m = buildMiniCluster(input);
      assert.deepEqual(Object.keys(m.spec).filter((k) => !specFields.includes(k)), []);
      assert.deepEqual(Object.keys(m.spec.network), ["headlessName"]);
      assert.deepEqual(Object.keys(m.spec.flux).sort(), ["container", "noWaitSocket"]);
      for (const c of m.spec.containers) {
        assert.deepEqual(Object.keys(c).filter((k) => !containerFields.includes(k)), []);
        assert.deepEqual(Object.keys(c.commands ?? {}).filter((k) => !commandsFields.includes(k)), []);
        for (const v of Object.values(c.volumes ?? {})) assert.deepEqual(Object.keys(v).filter((k) => !volumeFields.includes(k)), []);
        for (const value of Object.values(c.environment ?? {})) assert.equal(typeof value, "string");
      }
      assert.ok(Number.isInteger(m.spec.size) && Number.isInteger(m.spec.maxSize));
    }
  });

  it("reports each broken rule", () => {
    const broken = structuredClone(mc);
    broken.spec.maxSize = 2;
    broken.spec.containers[1].runFlux = true;
    broken.spec.containers.push({ image: "busybox:1" });
    broken.spec.containers[1].volumes = { other: { configMapName: "bundle", path: "/x" }, data: { claimName: "c" } };
    broken.spec.containers[1].environment = { FLUX_TOKEN: "leaked" };
    broken.spec.containers[1].secrets = { FLUX_SECRET_KEY: { name: "s", key: "k" } };
    const problems = operatorRuleViolations(broken).join("\n");
    assert.match(problems, /maxSize \(2\) must be >= spec.size \(4\)/);
    assert.match(problems, /exactly one container must have runFlux: true, found 2/);
    assert.match(problems, /containers\[2\] runs without Flux and needs a name/);
    assert.match(problems, /key "other" must equal its configMapName "bundle"/);
    assert.match(problems, /FLUX_TOKEN in plain environment/);
    assert.match(problems, /takes FLUX_SECRET_KEY from a Secret into its environment/);
    assert.match(problems, /key "data" has a claimName and needs a path/);
  });

  it("reports a volume named in two containers: operator 0.2.1 would mount it twice in the later one", () => {
    const twice = structuredClone(buildMiniCluster(CLAIM));
    twice.spec.containers[1].volumes![WORKSPACE_VOLUME] = twice.spec.containers[0].volumes![WORKSPACE_VOLUME];
    assert.deepEqual(operatorRuleViolations(twice), [`containers[1] would mount ${WORKSPACE_CLAIM_PATH} twice (operator 0.2.1 passes each container's volumes on to the ones after it)`]);
  });

  it("mounts the credentials Secret as files in the sidecar only, never as environment", () => {
    assert.equal(sidecar.secrets, undefined);
    for (const env of ["FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY"]) assert.ok(!(env in sidecar.environment!));
    assert.deepEqual(sidecar.volumes![CREDENTIALS_SECRET], { secretName: CREDENTIALS_SECRET, path: CREDENTIALS_MOUNT_PATH, readOnly: true });
    assert.equal(sidecar.environment!.FLUX_CREDENTIALS_DIR, CREDENTIALS_MOUNT_PATH);
    const secret = buildCredentialsSecret("ns", { user: "u", token: "t0k3n", secretKey: "k3y" });
    assert.deepEqual(Object.keys(secret.stringData).sort(), Object.values(CREDENTIAL_FILES).sort(), "the Secret's keys are the file names the sidecar reads");
    // The operator's mounts: the broker's container (where jobs run) has none of the sidecar's volumes.
    for (const input of [base, CLAIM, { ...CLAIM, tls: true }]) {
      const m = buildMiniCluster(input);
      const [broker, restful] = operatorMounts(m, FLUX_OPERATOR.viewBase).map((mounts) => mounts.map((x) => x.mountPath));
      assert.ok(!broker.some((p) => [CREDENTIALS_MOUNT_PATH, TLS_MOUNT_PATH, SIDECAR_MOUNT_PATH].includes(p)), broker.join(" "));
      assert.ok(restful.includes(CREDENTIALS_MOUNT_PATH) && restful.includes(SIDECAR_MOUNT_PATH));
    }
  });

  it("sets the sidecar's environment from the inputs and the pinned operator's socket", () => {
    assert.deepEqual(sidecar.environment, {
      FLUX_REQUIRE_AUTH: "true", FLUX_CREDENTIALS_DIR: CREDENTIALS_MOUNT_PATH, FLUX_BUNDLE_FILE: "/opt/flux-restful/sidecar.js",
      FLUX_WORKSPACE: "/mnt/flux/workspace",
      FLUX_NUMBER_NODES: "4", FLUX_HAS_GPUS: "false", FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "600",
      FLUX_URI: FLUX_OPERATOR.brokerUri, HOST: "0.0.0.0", PORT: String(SIDECAR_PORT), FLUX_RESTART_ON_STOP: "true",
      MALLOC_ARENA_MAX: "1", MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072",
    });
    assert.equal(sidecar.ports, undefined, "no ports: the operator would add a Service over every pod");
    assert.equal(mc.spec.flux.container.image, FLUX_OPERATOR.viewImage);
  });

  it("turns the Flux proxy on only when asked (FLUX_PROXY), leaving the default spec as it was", () => {
    assert.equal(sidecar.environment?.FLUX_PROXY, undefined);
    const on = buildMiniCluster({ ...base, fluxProxy: true }).spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;
    assert.equal(on.environment?.FLUX_PROXY, "true");
    assert.equal(on.environment?.FLUX_REQUIRE_AUTH, "true");
  });

  it("mounts the Flux view image it is given (an explicit input: it decides the brokers' flux-core)", () => {
    const other = buildMiniCluster({ ...base, viewImage: "registry.example/flux-view:0.88.0" });
    assert.equal(other.spec.flux.container.image, "registry.example/flux-view:0.88.0");
    assert.notEqual(other.metadata.name, mc.metadata.name, "another view is another MiniCluster");
  });

  it("mounts the TLS secret and points the sidecar at it when HTTPS is on", () => {
    const tls = buildMiniCluster({ ...base, tls: true }).spec.containers[1];
    assert.equal(tls.volumes![TLS_SECRET].secretName, TLS_SECRET);
    assert.match(tls.environment!.FLUX_TLS_CERT_FILE, /tls\.crt$/);
    assert.match(tls.environment!.FLUX_TLS_KEY_FILE, /tls\.key$/);
  });

  it("is named after its spec, which holds neither the bundle nor the credentials", () => {
    assert.equal(buildMiniCluster(base).metadata.name, mc.metadata.name);
    assert.ok(!JSON.stringify(mc).includes("console.log"), "no bundle text or hash in the spec");
    assert.notEqual(buildMiniCluster({ ...base, size: 3 }).metadata.name, mc.metadata.name);
    assert.notEqual(buildMiniCluster(CLAIM).metadata.name, mc.metadata.name, "another workspace is another MiniCluster");
    assert.equal(mc.spec.network.headlessName, mc.metadata.name);
    assert.match(mc.metadata.name, /^flux-[0-9a-f]{10}$/);
  });

  it("keeps the bundle under a fixed name in a mutable ConfigMap, mounted as a directory (updates reach the pod)", () => {
    const cm = buildSidecarConfigMap("ns", "console.log(1)");
    assert.equal(cm.metadata.name, SIDECAR_CONFIGMAP);
    assert.equal(buildSidecarConfigMap("ns", "console.log(2)").metadata.name, SIDECAR_CONFIGMAP);
    assert.ok(!("immutable" in cm), "an immutable ConfigMap could only be replaced");
    assert.equal(cm.data["sidecar.js"], "console.log(1)");
    assert.deepEqual(sidecar.volumes![SIDECAR_CONFIGMAP].items, { "sidecar.js": "sidecar.js" });
    assert.equal(sidecar.environment!.FLUX_BUNDLE_FILE, `${sidecar.volumes![SIDECAR_CONFIGMAP].path}/sidecar.js`);
  });

  describe("the workspace", () => {
    it("is by default a directory of the operator's view emptyDir, shared by both containers of each pod", () => {
      assert.equal(sidecar.environment!.FLUX_WORKSPACE, `${FLUX_OPERATOR.viewBase}/workspace`);
      for (const mounts of operatorMounts(mc, FLUX_OPERATOR.viewBase)) {
        assert.deepEqual(mounts.find((m) => m.mountPath === FLUX_OPERATOR.viewBase), { name: "flux-view", mountPath: FLUX_OPERATOR.viewBase, readOnly: false });
      }
      assert.equal(mc.spec.containers[0].volumes, undefined);
    });

    it("with a claim: declared on the broker's container, mounted at /workspace in both (one pod volume)", () => {
      const m = buildMiniCluster(CLAIM);
      assert.deepEqual(m.spec.containers[0].volumes, { [WORKSPACE_VOLUME]: { claimName: "shared-rwx", path: WORKSPACE_CLAIM_PATH } });
      assert.ok(!(WORKSPACE_VOLUME in m.spec.containers[1].volumes!), "named once: the operator passes it on");
      const mounts = operatorMounts(m, FLUX_OPERATOR.viewBase);
      for (const container of mounts) {
        assert.deepEqual(container.filter((x) => x.name === WORKSPACE_VOLUME), [{ name: WORKSPACE_VOLUME, mountPath: WORKSPACE_CLAIM_PATH, readOnly: false }]);
      }
      assert.equal(m.spec.containers[1].environment!.FLUX_WORKSPACE, WORKSPACE_CLAIM_PATH);
      assert.equal(workspacePath(FLUX_OPERATOR, { kind: "claim", claimName: "x" }), WORKSPACE_CLAIM_PATH);
    });

    it("made by the program: a ReadWriteMany claim named after its storage class", () => {
      const claim = buildWorkspaceClaim("ns", workspaceClaimName("standard-rwx"), "standard-rwx", "1Ti");
      assert.deepEqual(claim.spec, { accessModes: ["ReadWriteMany"], storageClassName: "standard-rwx", resources: { requests: { storage: "1Ti" } } });
      assert.match(claim.metadata.name, /^flux-restful-workspace-[0-9a-f]{8}$/);
      assert.notEqual(workspaceClaimName("efs-sc"), claim.metadata.name);
    });
  });

  describe("the operator wrapper's cost in the sidecar container", () => {
    it("gives it an empty, writable working directory (the wrapper runs `find $viewroot .` and writes ./flux-view.sh there)", () => {
      assert.equal(sidecar.workingDir, SIDECAR_WORKDIR);
      assert.ok(path.isAbsolute(SIDECAR_WORKDIR) && path.resolve(SIDECAR_WORKDIR) !== path.resolve("/"));
      const mounts = operatorMounts(mc, FLUX_OPERATOR.viewBase)[1];
      assert.ok(!mounts.some((m) => SIDECAR_WORKDIR === m.mountPath || SIDECAR_WORKDIR.startsWith(`${m.mountPath.replace(/\/$/, "")}/`)),
        "not inside any mounted volume (the read-only ones, or the shared view)");
    });

    it("links /opt/software to the view's tree before the wrapper copies it", () => {
      assert.equal(sidecar.commands!.init, `[ -e /opt/software ] || ln -s ${FLUX_OPERATOR.viewBase}/software /opt/software`);
      assert.equal(mc.spec.containers[0].commands, undefined, "the broker's wrapper is left as it is");
    });
  });

  describe("the sidecar command (run by bash, as the operator's wrapper does)", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-cmd-"));
    const log = path.join(bin, "runs");
    // A stand-in node: logs its arguments, then exits with the next status listed in $STATUSES.
    fs.writeFileSync(path.join(bin, "node"), [
      "#!/bin/sh",
      `echo "node $*" >> ${log}`,
      `n=$(wc -l < ${log})`,
      `exit $(echo $STATUSES | cut -d' ' -f$n)`,
    ].join("\n"), { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "sleep"), "#!/bin/sh\necho \"sleep $*\"\n", { mode: 0o755 });
    const run = (index: string, statuses = "0") => {
      fs.rmSync(log, { force: true });
      const result = spawnSync("bash", ["--norc", "--noprofile", "-c", SIDECAR_COMMAND], {
        env: { PATH: `${bin}:/usr/bin:/bin`, JOB_COMPLETION_INDEX: index, LD_LIBRARY_PATH: "/mnt/flux/view/lib", STATUSES: statuses },
      });
      return { status: result.status, stdout: result.stdout.toString().trim(), runs: fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [] };
    };
    const NODE = "node --max-semi-space-size=1 --max-old-space-size=128 --optimize-for-size --no-opt --no-maglev /opt/flux-restful/sidecar.js";

    it("starts the sidecar on the lead broker (index 0), once when it exits 0", () => {
      assert.deepEqual(run("0"), { status: 0, stdout: "", runs: [NODE] });
    });

    it(`starts it again, in the same container, each time it exits ${RELOAD_EXIT_CODE} (a new bundle), and ends with any other status`, () => {
      assert.deepEqual(run("0", `${RELOAD_EXIT_CODE} ${RELOAD_EXIT_CODE} 0`), { status: 0, stdout: "", runs: [NODE, NODE, NODE] });
      assert.deepEqual(run("0", `${RELOAD_EXIT_CODE} 3`), { status: 3, stdout: "", runs: [NODE, NODE] });
    });

    it("keeps the other pods alive without serving", () => {
      assert.equal(run("1").stdout, "sleep infinity");
      assert.equal(run("12").stdout, "sleep infinity");
    });

    for (const shell of ["sh", "bash"]) {
      it(`passes SIGTERM to the lead's node and exits with its status at once (${shell})`, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-term-"));
        // Exits 0 on TERM, as the sidecar does after its clean shutdown.
        fs.writeFileSync(path.join(dir, "node"), `#!/bin/sh\ntrap 'echo got-term > ${dir}/term; exit 0' TERM\nsleep 30 & wait\n`, { mode: 0o755 });
        const child = spawn(shell, ["-c", SIDECAR_COMMAND], { env: { PATH: `${dir}:/usr/bin:/bin`, JOB_COMPLETION_INDEX: "0" }, stdio: "ignore" });
        const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(child.exitCode, null, "still running before the signal");
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        const [code, signal] = await exited;
        clearTimeout(timer);
        assert.deepEqual([code, signal], [0, null]);
        assert.equal(fs.readFileSync(path.join(dir, "term"), "utf8"), "got-term\n", "node itself got the signal");
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it(`ends the other pods' container at once on SIGTERM, exit 0 (${shell}, the real sleep)`, async () => {
        const child = spawn(shell, ["-c", SIDECAR_COMMAND], { env: { PATH: "/usr/bin:/bin", JOB_COMPLETION_INDEX: "1" }, stdio: "ignore" });
        const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(child.exitCode, null, "still running before the signal");
        const sent = Date.now();
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        const [code, signal] = await exited;
        clearTimeout(timer);
        assert.deepEqual([code, signal], [0, null]);
        assert.ok(Date.now() - sent < 2_000, "no wait for a grace period");
      });
    }
  });
});

describe("infra builders: Flux Operator manifest", () => {
  it("is pinned to the release commit and a checksum, never a branch", () => {
    assert.ok(isPinnedManifestUrl(FLUX_OPERATOR.manifestUrl));
    assert.match(FLUX_OPERATOR.manifestUrl, /^https:\/\/raw\.githubusercontent\.com\/flux-framework\/flux-operator\/[0-9a-f]{40}\//);
    assert.match(FLUX_OPERATOR.manifestSha256, /^[0-9a-f]{64}$/);
    assert.match(FLUX_OPERATOR.managerImage, /:v\d+\.\d+\.\d+$/);
    assert.ok(!isPinnedManifestUrl("https://raw.githubusercontent.com/flux-framework/flux-operator/main/examples/dist/flux-operator.yaml"));
    assert.ok(isPinnedManifestUrl(`https://raw.githubusercontent.com/flux-framework/flux-operator/${"a".repeat(40)}/examples/dist/flux-operator.yaml`));
  });

  it("drops the dead proxy container, pins the manager image, and leaves other objects alone", () => {
    const objects = operatorObjects(OPERATOR_MANIFEST);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata?.name}`), [
      `Namespace/${FLUX_OPERATOR.namespace}`, `CustomResourceDefinition/${FLUX_OPERATOR.crdName}`,
      "ClusterRole/operator-manager-role", `Deployment/${FLUX_OPERATOR.deploymentName}`,
    ]);
    const containers = objects[3].spec.template.spec.containers;
    assert.deepEqual(containers.map((c: { name: string }) => c.name), ["manager"]);
    assert.ok(!JSON.stringify(objects).includes(REMOVED_PROXY_CONTAINER));
    assert.equal(containers[0].image, FLUX_OPERATOR.managerImage);
    assert.equal(containers[0].imagePullPolicy, "IfNotPresent");
    assert.deepEqual(containers[0].command, ["/manager"]);
    assert.deepEqual(objects[2], parse(OPERATOR_MANIFEST.split("---\n")[2]));
  });

  it("never applies what only served the proxy: the metrics Service (no endpoints without it), its roles", () => {
    const all = OPERATOR_MANIFEST.split("---\n").map((doc) => parse(doc) as { kind: string; metadata: { name: string } });
    const kept = operatorObjects(OPERATOR_MANIFEST).map((o) => `${o.kind}/${o.metadata?.name}`);
    const dropped = all.map((o) => `${o.kind}/${o.metadata.name}`).filter((id) => !kept.includes(id));
    assert.deepEqual(dropped.sort(), DROPPED_OBJECTS.map((d) => `${d.kind}/${d.name}`).sort());
    assert.ok(dropped.includes("Service/operator-controller-manager-metrics-service"));
  });

  it("rejects a manifest that is not the operator's", () => {
    assert.throws(() => operatorObjects("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"), /does not contain the miniclusters.flux-framework.org CRD/);
    assert.throws(() => operatorObjects("a: [unclosed"), /not valid YAML/);
  });
});

describe("infra builders: endpoint", () => {
  it("selects only the lead broker's pod of this MiniCluster, on the sidecar port, with the pinned NodePort", () => {
    const svc = buildService("ns", "flux-abc", 30093);
    assert.deepEqual(svc.spec.selector, leadBrokerSelector("flux-abc"));
    assert.equal(svc.spec.selector["batch.kubernetes.io/job-completion-index"], "0");
    assert.deepEqual(svc.spec.ports, [{ name: "http", protocol: "TCP", port: 5000, targetPort: 5000, nodePort: 30093 }]);
    assert.equal(buildService("ns", "flux-abc").spec.ports[0].nodePort, undefined);
  });

  it("builds an internet-facing ALB Ingress with ip targets and the cheap health check", () => {
    const ingress = buildAlbIngress("ns", {});
    const a = ingress.metadata.annotations;
    assert.equal(ingress.spec.ingressClassName, "alb");
    assert.equal(a["alb.ingress.kubernetes.io/scheme"], "internet-facing");
    assert.equal(a["alb.ingress.kubernetes.io/target-type"], "ip");
    assert.equal(a["alb.ingress.kubernetes.io/healthcheck-path"], HEALTH_CHECK_PATH);
    assert.deepEqual(JSON.parse(a["alb.ingress.kubernetes.io/listen-ports"]), [{ HTTP: 80 }]);
    assert.equal(a["alb.ingress.kubernetes.io/ssl-redirect"], undefined);
    assert.equal(a["alb.ingress.kubernetes.io/inbound-cidrs"], undefined);
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    assert.deepEqual(backend, { name: SERVICE_NAME, port: { number: 5000 } });
  });

  it("adds HTTPS with redirect for an ACM certificate, and inbound CIDRs", () => {
    const arn = "arn:aws:acm:us-east-2:123456789012:certificate/abc";
    const a = albAnnotations({ certificateArn: arn, inboundCidrs: ["203.0.113.0/24", "198.51.100.0/24"] });
    assert.equal(a["alb.ingress.kubernetes.io/certificate-arn"], arn);
    assert.deepEqual(JSON.parse(a["alb.ingress.kubernetes.io/listen-ports"]), [{ HTTP: 80 }, { HTTPS: 443 }]);
    assert.equal(a["alb.ingress.kubernetes.io/ssl-redirect"], "443");
    assert.equal(a["alb.ingress.kubernetes.io/inbound-cidrs"], "203.0.113.0/24,198.51.100.0/24");
  });

  it("formats endpoints and the client command", () => {
    assert.equal(endpointUrl({ scheme: "http", host: "198.51.100.7", port: 30093 }), "http://198.51.100.7:30093");
    assert.equal(endpointUrl({ scheme: "https", host: "lb.example", port: 443 }), "https://lb.example");
    assert.equal(endpointUrl({ scheme: "http", host: "::1", port: 5000 }), "http://[::1]:5000");
    assert.equal(clientCommand("gke"), "npx flux-restful --stack gke jobs");
  });
});

describe("infra builders: GKE", () => {
  it("writes a kubeconfig that authenticates with gke-gcloud-auth-plugin", () => {
    const kc = parse(buildGkeKubeconfig({ clusterName: "c1", endpoint: "203.0.113.10", caCertificate: "Q0E=" }));
    assert.equal(kc["current-context"], "c1");
    assert.equal(kc.clusters[0].cluster.server, "https://203.0.113.10");
    assert.equal(kc.clusters[0].cluster["certificate-authority-data"], "Q0E=");
    assert.equal(kc.users[0].user.exec.command, "gke-gcloud-auth-plugin");
    assert.equal(kc.users[0].user.exec.apiVersion, "client.authentication.k8s.io/v1beta1");
    assert.ok(!("token" in kc.users[0].user), "no stored token");
  });

  it("opens one TCP port, to the tagged nodes only, from the given ranges", () => {
    const fw = buildNodePortFirewallArgs({ network: "default", nodeTag: nodeTagFor("c1"), nodePort: 30093, sourceRanges: ["203.0.113.0/24"] });
    assert.deepEqual(fw.allows, [{ protocol: "tcp", ports: ["30093"] }]);
    assert.deepEqual(fw.targetTags, ["c1-nodes"]);
    assert.deepEqual(fw.sourceRanges, ["203.0.113.0/24"]);
    assert.equal(fw.direction, "INGRESS");
  });
});

describe("infra builders: AWS load balancer controller", () => {
  const trust = buildIrsaTrustPolicy({
    oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-2.amazonaws.com/id/ABC",
    oidcIssuer: "https://oidc.eks.us-east-2.amazonaws.com/id/ABC",
    namespace: LB_CONTROLLER.namespace,
    serviceAccount: LB_CONTROLLER.serviceAccount,
  });
  const values = buildLbControllerValues({ clusterName: "c1", region: "us-east-2", vpcId: "vpc-1", roleArn: "arn:aws:iam::1:role/r" });

  it("trusts exactly the chart's service account in kube-system, through the cluster's OIDC provider", () => {
    const [statement] = trust.Statement;
    assert.equal(trust.Statement.length, 1);
    assert.deepEqual(statement.Action, ["sts:AssumeRoleWithWebIdentity"]);
    assert.equal(statement.Principal!.Federated, "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-2.amazonaws.com/id/ABC");
    const eq = statement.Condition!.StringEquals;
    assert.equal(eq["oidc.eks.us-east-2.amazonaws.com/id/ABC:sub"], serviceAccountSubject("kube-system", values.serviceAccount.name));
    assert.equal(eq["oidc.eks.us-east-2.amazonaws.com/id/ABC:aud"], "sts.amazonaws.com");
    assert.equal(values.serviceAccount.annotations["eks.amazonaws.com/role-arn"], "arn:aws:iam::1:role/r");
  });

  it("sets the chart values the controller needs without instance metadata", () => {
    assert.equal(values.clusterName, "c1");
    assert.equal(values.region, "us-east-2");
    assert.equal(values.vpcId, "vpc-1");
    assert.equal(values.serviceAccount.create, true);
    assert.equal(values.keepTLSSecret, true);
    assert.equal(LB_CONTROLLER.chartVersion, "3.5.0");
  });

  it("grants the v3.5.0 permissions, and changes only to resources the controller tagged", () => {
    const policy = buildLbControllerPolicy();
    assert.equal(policy.Statement.length, 16);
    const actions = policy.Statement.flatMap((s) => s.Action);
    assert.ok(!actions.includes("*") && actions.every((a) => /^[\w-]+:[A-Za-z]+$/.test(a)));
    for (const needed of ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:RegisterTargets", "ec2:DescribeSubnets",
      "ec2:CreateSecurityGroup", "acm:DescribeCertificate", "wafv2:AssociateWebACL", "iam:CreateServiceLinkedRole"]) {
      assert.ok(actions.includes(needed), needed);
    }
    for (const destructive of ["ec2:DeleteSecurityGroup", "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DeleteTargetGroup"]) {
      const statement = policy.Statement.find((s) => s.Action.includes(destructive))!;
      assert.equal(statement.Condition?.Null?.["aws:ResourceTag/elbv2.k8s.aws/cluster"], "false", destructive);
    }
  });

  it("tags public subnets for internet-facing and private ones for internal load balancers", () => {
    assert.deepEqual(subnetTags("public", "c1", "n"), { Name: "n", "kubernetes.io/role/elb": "1", "kubernetes.io/cluster/c1": "shared" });
    assert.equal(subnetTags("private", "c1", "n")["kubernetes.io/role/internal-elb"], "1");
  });
});

describe("infra builders: local kubeconfig", () => {
  it("lists the contexts with their clusters, and the current one", () => {
    assert.deepEqual(kubeconfigContexts(TWO_CONTEXT_KUBECONFIG), {
      current: "kind-dev",
      contexts: [{ name: "kind-dev", cluster: "kind-dev" }, { name: "prod", cluster: "prod" }],
      clusters: ["kind-dev", "prod"],
    });
  });

  it("keeps only the named context, its cluster and its user, and makes it current", () => {
    const dev = singleContextKubeconfig(TWO_CONTEXT_KUBECONFIG, "kind-dev");
    assert.ok(!dev.includes("prod-secret-token"));
    const prod = parse(singleContextKubeconfig(TWO_CONTEXT_KUBECONFIG, "prod"));
    assert.equal(prod["current-context"], "prod", "the file's current context (kind-dev) does not matter");
    assert.deepEqual(prod.contexts.map((c: { name: string }) => c.name), ["prod"]);
    assert.deepEqual(prod.clusters.map((c: { name: string }) => c.name), ["prod"]);
    assert.deepEqual(prod.users.map((u: { name: string }) => u.name), ["prod-admin"]);
    assert.ok(!JSON.stringify(prod).includes("dev-token"));
  });
});
