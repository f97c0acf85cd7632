/** The pure builders (manifests, policies, kubeconfigs), tested without Pulumi. */
import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { FLUX_OPERATOR, REMOVED_PROXY_CONTAINER, isPinnedManifestUrl, operatorObjects } from "../../components/flux-operator.build";
import {
  CREDENTIALS_SECRET, MiniClusterInput, SIDECAR_COMMAND, SIDECAR_CONTAINER, SIDECAR_PORT, TLS_SECRET,
  buildCredentialsSecret, buildMiniCluster, buildSidecarConfigMap, leadBrokerSelector, operatorRuleViolations,
  sidecarConfigMapName,
} from "../../components/minicluster.build";
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
  bundle: "console.log(1)",
  hasGpus: false,
  tokenExpiresMinutes: 600,
  tls: false,
};

describe("infra builders: MiniCluster", () => {
  const mc = buildMiniCluster(base);
  const sidecar = mc.spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;

  it("passes the operator's rules: one runFlux container, a named sidecar, volume key = configMapName, maxSize >= size", () => {
    assert.deepEqual(operatorRuleViolations(mc), []);
    assert.equal(mc.spec.containers.filter((c) => c.runFlux).length, 1);
    assert.ok(sidecar && !sidecar.runFlux);
    const [key, volume] = Object.entries(sidecar.volumes!)[0];
    assert.equal(key, volume.configMapName);
    assert.equal(volume.configMapName, sidecarConfigMapName(base.bundle));
    assert.ok(mc.spec.maxSize >= mc.spec.size);
  });

  it("uses only fields the v1alpha2 CRD defines (the API server would silently drop others)", () => {
    // Field names read from the CRD of the pinned release (flux-framework.org_miniclusters.yaml).
    const specFields = ["size", "maxSize", "minSize", "interactive", "network", "logging", "flux", "containers", "pod", "tasks"];
    const containerFields = ["name", "image", "runFlux", "command", "environment", "secrets", "volumes", "ports", "resources"];
    const volumeFields = ["configMapName", "secretName", "path", "readOnly", "items", "claimName", "emptyDir", "hostPath"];
    const withTls = buildMiniCluster({ ...base, tls: true });
    assert.deepEqual(Object.keys(withTls.spec).filter((k) => !specFields.includes(k)), []);
    assert.deepEqual(Object.keys(withTls.spec.network), ["headlessName"]);
    assert.deepEqual(Object.keys(withTls.spec.flux).sort(), ["container", "noWaitSocket"]);
    for (const c of withTls.spec.containers) {
      assert.deepEqual(Object.keys(c).filter((k) => !containerFields.includes(k)), []);
      for (const v of Object.values(c.volumes ?? {})) assert.deepEqual(Object.keys(v).filter((k) => !volumeFields.includes(k)), []);
      for (const ref of Object.values(c.secrets ?? {})) assert.deepEqual(Object.keys(ref).sort(), ["key", "name"]);
      for (const value of Object.values(c.environment ?? {})) assert.equal(typeof value, "string");
    }
    assert.ok(Number.isInteger(withTls.spec.size) && Number.isInteger(withTls.spec.maxSize));
  });

  it("reports each broken rule", () => {
    const broken = structuredClone(mc);
    broken.spec.maxSize = 2;
    broken.spec.containers[1].runFlux = true;
    broken.spec.containers.push({ image: "busybox:1" });
    broken.spec.containers[1].volumes = { other: { configMapName: "bundle", path: "/x" } };
    broken.spec.containers[1].environment = { FLUX_TOKEN: "leaked" };
    const problems = operatorRuleViolations(broken).join("\n");
    assert.match(problems, /maxSize \(2\) must be >= spec.size \(4\)/);
    assert.match(problems, /exactly one container must have runFlux: true, found 2/);
    assert.match(problems, /containers\[2\] runs without Flux and needs a name/);
    assert.match(problems, /key "other" must equal its configMapName "bundle"/);
    assert.match(problems, /FLUX_TOKEN in plain environment/);
  });

  it("gives the sidecar its credentials only through secret references", () => {
    for (const env of ["FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY"]) {
      assert.equal(sidecar.secrets![env].name, CREDENTIALS_SECRET);
      assert.ok(!(env in sidecar.environment!));
    }
    const secret = buildCredentialsSecret("ns", { user: "u", token: "t0k3n", secretKey: "k3y" });
    assert.deepEqual(Object.keys(secret.stringData).sort(), Object.values(sidecar.secrets!).map((s) => s.key).sort());
  });

  it("sets the sidecar's environment from the inputs and the pinned operator's socket", () => {
    assert.deepEqual(sidecar.environment, {
      FLUX_REQUIRE_AUTH: "true", FLUX_NUMBER_NODES: "4", FLUX_HAS_GPUS: "false", FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "600",
      FLUX_URI: FLUX_OPERATOR.brokerUri, HOST: "0.0.0.0", PORT: String(SIDECAR_PORT), FLUX_RESTART_ON_STOP: "true",
      MALLOC_ARENA_MAX: "1", MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072",
    });
    assert.equal(sidecar.ports, undefined, "no ports: the operator would add a Service over every pod");
    assert.equal(mc.spec.flux.container.image, FLUX_OPERATOR.viewImage);
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

  it("is named after its spec: a new bundle or size gives a new name, the same inputs the same name", () => {
    assert.equal(buildMiniCluster(base).metadata.name, mc.metadata.name);
    assert.notEqual(buildMiniCluster({ ...base, bundle: "console.log(2)" }).metadata.name, mc.metadata.name);
    assert.notEqual(buildMiniCluster({ ...base, size: 3 }).metadata.name, mc.metadata.name);
    assert.equal(mc.spec.network.headlessName, mc.metadata.name);
    assert.match(mc.metadata.name, /^flux-[0-9a-f]{10}$/);
  });

  it("keeps the bundle in an immutable ConfigMap under the mounted key", () => {
    const cm = buildSidecarConfigMap("ns", base.bundle);
    assert.equal(cm.immutable, true);
    assert.equal(cm.data["sidecar.js"], base.bundle);
    assert.equal(cm.metadata.name, Object.keys(sidecar.volumes!)[0]);
  });

  describe("the sidecar command (run by bash, as the operator's wrapper does)", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-cmd-"));
    for (const tool of ["node", "sleep"]) {
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*"\n`, { mode: 0o755 });
    }
    const run = (index: string) => execFileSync("bash", ["--norc", "--noprofile", "-c", SIDECAR_COMMAND], {
      env: { PATH: `${bin}:/usr/bin:/bin`, JOB_COMPLETION_INDEX: index, LD_LIBRARY_PATH: "/mnt/flux/view/lib" },
    }).toString().trim();

    it("starts the sidecar on the lead broker (index 0)", () => {
      assert.equal(run("0"), "node --max-semi-space-size=1 --max-old-space-size=128 --optimize-for-size --no-opt --no-maglev /opt/flux-restful/sidecar.js");
    });

    it("keeps the other pods alive without serving", () => {
      assert.equal(run("1"), "sleep infinity");
      assert.equal(run("12"), "sleep infinity");
    });

    for (const shell of ["sh", "bash"]) {
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
    assert.deepEqual(objects.map((o) => o.kind), ["Namespace", "CustomResourceDefinition", "Service", "Deployment"]);
    const containers = objects[3].spec.template.spec.containers;
    assert.deepEqual(containers.map((c: { name: string }) => c.name), ["manager"]);
    assert.ok(!JSON.stringify(objects).includes(REMOVED_PROXY_CONTAINER));
    assert.equal(containers[0].image, FLUX_OPERATOR.managerImage);
    assert.equal(containers[0].imagePullPolicy, "IfNotPresent");
    assert.deepEqual(containers[0].command, ["/manager"]);
    assert.deepEqual(objects[2], parse(OPERATOR_MANIFEST.split("---\n")[2]));
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
