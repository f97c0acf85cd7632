/** The whole program per stack, evaluated under pulumi.runtime.setMocks: no CLI, no cloud, no cluster. */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { fakePem, isSecretValue, settle, valueOf } from "../../infra/mocks";
import { ConfigError } from "../../infra/config";
import { BundleMissingError } from "../../infra/sources";
import { NotReadyError } from "../../infra/readiness";
import { FLUX_OPERATOR, REMOVED_PROXY_CONTAINER } from "../../components/flux-operator.build";
import { LB_CONTROLLER, serviceAccountSubject } from "../../components/lb-controller.build";
import { MiniClusterManifest, SIDECAR_CONFIGMAP, SIDECAR_CONTAINER, operatorRuleViolations } from "../../components/minicluster.build";
import type { StackOutputs } from "../../stacks/flux-restful";
import { BUNDLE_PATH, Evaluation, evaluate, lastDeclared, ofType, one, tempFile } from "./harness";
import { FAKE_BUNDLE, TWO_CONTEXT_KUBECONFIG } from "./fixtures";

const T = {
  cluster: "gcp:container/cluster:Cluster",
  nodePool: "gcp:container/nodePool:NodePool",
  firewall: "gcp:compute/firewall:Firewall",
  eks: "eks:index:Cluster",
  nodeGroup: "eks:index:ManagedNodeGroup",
  subnet: "aws:ec2/subnet:Subnet",
  role: "aws:iam/role:Role",
  release: "kubernetes:helm.sh/v3:Release",
  operator: "kubernetes:yaml/v2:ConfigGroup",
  namespace: "kubernetes:core/v1:Namespace",
  secret: "kubernetes:core/v1:Secret",
  configMap: "kubernetes:core/v1:ConfigMap",
  miniCluster: "kubernetes:flux-framework.org/v1alpha2:MiniCluster",
  service: "kubernetes:core/v1:Service",
  ingress: "kubernetes:networking.k8s.io/v1:Ingress",
  acm: "aws:acm/certificate:Certificate",
  selfSigned: "tls:index/selfSignedCert:SelfSignedCert",
  certRequest: "tls:index/certRequest:CertRequest",
  signed: "tls:index/locallySignedCert:LocallySignedCert",
  claim: "kubernetes:core/v1:PersistentVolumeClaim",
};

/** What the offline tls provider answers for the stack's CA, server certificate and server key. */
const CA_PEM = fakePem("CERTIFICATE", "api-tls-ca");
const SERVER_PEM = fakePem("CERTIFICATE", "api-tls-server");
const SERVER_KEY_PEM = fakePem("PRIVATE KEY", "api-tls-server-key");

/** The generated CA: a stack output in the clear (clients need it), a CA certificate. */
async function assertGeneratedCa(ev: Evaluation): Promise<void> {
  assert.equal(one(ev.resources, T.selfSigned).inputs.isCaCertificate, true);
  assert.ok(ev.outputs.caCertificate, "caCertificate output");
  assert.equal(await valueOf(ev.outputs.caCertificate!), CA_PEM);
  assert.equal(await pulumi.isSecret(ev.outputs.caCertificate!), false, "the CA certificate is public");
  assert.ok(isSecretValue(one(ev.resources, T.signed).inputs.caPrivateKeyPem), "the CA key reaches the signer as a secret");
}

function assertNoGeneratedTls(ev: Evaluation): void {
  assert.deepEqual(ev.resources.filter((r) => r.type.startsWith("tls:") || r.type === T.acm), []);
  assert.equal(ev.outputs.caCertificate, undefined);
}

/** Runs `body` with pulumi.log.warn recorded. */
async function warnings<T>(body: () => Promise<T>): Promise<{ result: T; warned: string[] }> {
  const warned: string[] = [];
  const log = pulumi.log as { warn: typeof pulumi.log.warn };
  const original = log.warn;
  log.warn = async (message: string) => { warned.push(message); };
  try {
    return { result: await body(), warned };
  } finally {
    log.warn = original;
  }
}

const OUTPUT_NAMES: (keyof StackOutputs)[] = [
  "cloud", "endpoint", "url", "user", "token", "secretKey", "kubeconfig", "clusterName", "namespace", "miniCluster",
  "operatorVersion", "clientCommand",
];
const GENERATED_TOKEN = "offline-flux-token";

async function assertOutputs(outputs: StackOutputs): Promise<void> {
  for (const name of OUTPUT_NAMES) {
    const value = await valueOf(outputs[name] as pulumi.Output<unknown>);
    assert.ok(value !== undefined && value !== "", `output ${name} is empty`);
  }
  for (const name of ["token", "secretKey", "kubeconfig"] as const) {
    assert.equal(await pulumi.isSecret(outputs[name]), true, `${name} must be secret`);
  }
  assert.equal(await valueOf(outputs.token), GENERATED_TOKEN);
}

function sidecarOf(ev: Evaluation) {
  return (one(ev.resources, T.miniCluster).inputs as MiniClusterManifest).spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;
}

/** The checks every stack shares: the MiniCluster, its Secret and ConfigMap, the operator, no leaked credential. */
function assertFluxRestful(ev: Evaluation, namespace: string): MiniClusterManifest {
  const mc = one(ev.resources, T.miniCluster).inputs as MiniClusterManifest;
  assert.deepEqual(operatorRuleViolations(mc), []);
  assert.equal(mc.metadata.namespace, namespace);

  const secret = ofType(ev.resources, T.secret).find((s) => s.inputs.metadata.name === "flux-restful-credentials")!;
  assert.ok(isSecretValue(secret.inputs.stringData), "the Secret's data reaches the engine as a secret");
  const nonSecretObjects = ev.resources.filter((r) => r.type !== T.secret && r.type.startsWith("kubernetes:"));
  assert.ok(!JSON.stringify(nonSecretObjects.map((r) => r.inputs)).includes(GENERATED_TOKEN), "a credential leaked into a non-Secret object");

  const cm = one(ev.resources, T.configMap);
  assert.equal(cm.inputs.data["sidecar.js"], FAKE_BUNDLE);
  assert.equal(cm.inputs.metadata.name, SIDECAR_CONFIGMAP);
  assert.ok(mc.spec.containers[1].volumes![cm.inputs.metadata.name]);

  const operatorObjects = one(ev.resources, T.operator).inputs.objs as { kind: string; spec?: any }[];
  const deployment = operatorObjects.find((o) => o.kind === "Deployment")!;
  assert.ok(!JSON.stringify(operatorObjects).includes(REMOVED_PROXY_CONTAINER));
  assert.equal(deployment.spec.template.spec.containers[0].image, FLUX_OPERATOR.managerImage);

  const mcOptions = ev.options.find((o) => o.type === T.miniCluster)!;
  assert.equal(mcOptions.deleteBeforeReplace, true, "a changed MiniCluster is replaced, the old one deleted first");
  assert.ok(mcOptions.dependsOn.includes("flux-operator"), "the MiniCluster waits for the operator");

  const service = one(ev.resources, T.service);
  assert.equal(service.inputs.spec.selector["batch.kubernetes.io/job-name"], mc.metadata.name);
  assert.equal(service.inputs.spec.selector["batch.kubernetes.io/job-completion-index"], "0");
  return mc;
}

function assertNoneFrom(ev: Evaluation, ...prefixes: string[]): void {
  const foreign = ev.resources.filter((r) => prefixes.some((p) => r.type.startsWith(p)));
  assert.deepEqual(foreign.map((r) => r.type), []);
}

describe("infra stacks (mocked)", function () {
  // The first import of a cloud SDK under a busy machine is slow.
  this.timeout(60_000);

  describe("gke", () => {
    let ev: Evaluation;
    before(async () => { ev = await evaluate("gke"); });

    it("creates a zonal cluster without its default pool, with Dataplane V2 network policy", () => {
      const c = one(ev.resources, T.cluster).inputs;
      assert.equal(c.location, "us-central1-a");
      assert.equal(c.removeDefaultNodePool, true);
      assert.equal(c.deletionProtection, false);
      assert.equal(c.datapathProvider, "ADVANCED_DATAPATH");
      assert.equal(c.networkPolicy, undefined, "never together with Dataplane V2");
    });

    it("creates 4 tagged c2d-standard-8 nodes and opens the NodePort only to that tag", () => {
      const pool = one(ev.resources, T.nodePool).inputs;
      assert.equal(pool.nodeCount, 4);
      assert.equal(pool.nodeConfig.machineType, "c2d-standard-8");
      const fw = one(ev.resources, T.firewall).inputs;
      const svc = one(ev.resources, T.service).inputs;
      assert.deepEqual(fw.allows, [{ protocol: "tcp", ports: [String(svc.spec.ports[0].nodePort)] }]);
      assert.equal(svc.spec.ports[0].nodePort, 30093);
      assert.ok(fw.targetTags.length > 0 && fw.targetTags.every((t: string) => pool.nodeConfig.tags.includes(t)));
      assert.deepEqual(fw.sourceRanges, ["0.0.0.0/0"]);
      assert.equal(fw.network, "default");
    });

    it("deploys the operator and the MiniCluster, credentials only in the Secret", () => {
      const mc = assertFluxRestful(ev, "flux-restful-gke");
      assert.equal(mc.spec.size, 4);
      assert.equal(ofType(ev.resources, T.ingress).length, 0);
    });

    it("trusts no forwarding headers: clients reach the sidecar directly", () => {
      assert.equal(sidecarOf(ev).environment!.FLUX_TRUST_PROXY, undefined);
    });

    it("creates nothing on AWS", () => assertNoneFrom(ev, "aws:", "eks:"));

    it("exports every output; secrets stay secret; the endpoint is HTTPS at a node IP and the NodePort", async () => {
      await assertOutputs(ev.outputs);
      assert.deepEqual(await valueOf(ev.outputs.endpoint), { scheme: "https", host: "198.51.100.7", port: 30093 });
      assert.equal(await valueOf(ev.outputs.clientCommand), "npx flux-restful --stack gke jobs");
      assert.match(await valueOf(ev.outputs.kubeconfig), /gke-gcloud-auth-plugin/);
    });

    it("serves HTTPS by default: a generated CA, a certificate for the node's IP, both halves in the TLS Secret", async () => {
      await assertGeneratedCa(ev);
      assert.deepEqual(one(ev.resources, T.certRequest).inputs.ipAddresses, ["198.51.100.7"]);
      assert.ok(one(ev.resources, T.signed).inputs.allowedUses.includes("server_auth"));
      const secret = ofType(ev.resources, T.secret).find((s) => s.inputs.type === "kubernetes.io/tls")!;
      assert.ok(isSecretValue(secret.inputs.stringData), "certificate and key reach the engine as a secret");
      assert.deepEqual(secret.inputs.stringData.value, { "tls.crt": SERVER_PEM, "tls.key": SERVER_KEY_PEM });
      const env = sidecarOf(ev).environment!;
      assert.equal(env.FLUX_TLS_CERT_FILE, "/etc/flux-restful/tls/tls.crt");
      assert.equal(env.FLUX_TLS_KEY_FILE, "/etc/flux-restful/tls/tls.key");
      assert.ok(!JSON.stringify(ev.resources.filter((r) => r.type !== T.secret && !r.type.startsWith("tls:")).map((r) => r.inputs))
        .includes(SERVER_KEY_PEM), "the private key is only in the Secret");
    });

    it("ends only when the API answers: polls the HTTPS url trusting the stack's CA", async () => {
      const asked: [string, string | undefined][] = [];
      const polled = await evaluate("gke", {}, {}, { waitUntilReady: async (url, ca) => { asked.push([url, ca]); } });
      assert.equal(await valueOf(polled.outputs.url), "https://198.51.100.7:30093");
      assert.deepEqual(asked, [["https://198.51.100.7:30093", CA_PEM]]);
      assert.equal(asked.length, 1);
      const failing = await evaluate("gke", {}, {}, { waitUntilReady: async () => { throw new NotReadyError("not ready: pods pending"); } });
      const error = await new Promise<unknown>((resolve) => {
        (failing.outputs.url as unknown as { promise(): Promise<string> }).promise().then(() => resolve(undefined), resolve);
      });
      assert.ok(error instanceof pulumi.RunError, "shown as its message alone");
      assert.equal((error as Error).message, "not ready: pods pending");
    });

    it("serves plain HTTP only with insecureHttp, and warns", async () => {
      const { result: plain, warned } = await warnings(() => evaluate("gke", { "flux-restful:insecureHttp": "true" }));
      assert.equal(warned.length, 1);
      assert.match(warned[0], /insecureHttp.*plain HTTP/);
      assertNoGeneratedTls(plain);
      assert.equal(ofType(plain.resources, T.secret).filter((s) => s.inputs.type === "kubernetes.io/tls").length, 0);
      assert.equal(sidecarOf(plain).environment!.FLUX_TLS_CERT_FILE, undefined);
      assert.deepEqual(await valueOf(plain.outputs.endpoint), { scheme: "http", host: "198.51.100.7", port: 30093 });
    });

    it("takes firewall ranges, credentials and HTTPS from config", async () => {
      const custom = await evaluate("gke", { "flux-restful:allowedCidrs": '["203.0.113.0/24"]', "flux-restful:size": "2" }, {
        "flux-restful:fluxToken": "token-from-config", "flux-restful:tlsCertificate": "CERT", "flux-restful:tlsKey": "KEY",
      });
      assert.deepEqual(one(custom.resources, T.firewall).inputs.sourceRanges, ["203.0.113.0/24"]);
      assert.equal(ofType(custom.resources, "random:index/randomPassword:RandomPassword").length, 1, "only the secret key is generated");
      assert.equal(await valueOf(custom.outputs.token), "token-from-config");
      assert.equal(await pulumi.isSecret(custom.outputs.token), true);
      const tls = ofType(custom.resources, T.secret).find((s) => s.inputs.type === "kubernetes.io/tls")!;
      assert.ok(isSecretValue(tls.inputs.stringData));
      const mc = one(custom.resources, T.miniCluster).inputs as MiniClusterManifest;
      assert.equal(mc.spec.size, 2);
      assert.ok(mc.spec.containers[1].environment!.FLUX_TLS_CERT_FILE);
      assert.equal((await valueOf(custom.outputs.endpoint)).scheme, "https");
      assert.deepEqual(tls.inputs.stringData.value, { "tls.crt": "CERT", "tls.key": "KEY" }, "the configured pair wins");
      assertNoGeneratedTls(custom);
      assert.ok(!JSON.stringify(one(custom.resources, T.miniCluster).inputs).includes("token-from-config"));
    });
  });

  describe("eks", () => {
    let ev: Evaluation;
    before(async () => { ev = await evaluate("eks"); });

    it("tags public and private subnets in two zones for load-balancer discovery", () => {
      const subnets = ofType(ev.resources, T.subnet).map((s) => s.inputs);
      const pub = subnets.filter((s) => s.tags["kubernetes.io/role/elb"] === "1");
      const priv = subnets.filter((s) => s.tags["kubernetes.io/role/internal-elb"] === "1");
      assert.equal(pub.length, 2);
      assert.equal(priv.length, 2);
      assert.equal(new Set(pub.map((s) => s.availabilityZone)).size, 2);
      assert.ok(subnets.every((s) => s.tags["kubernetes.io/cluster/flux-restful-eks"] === "shared"));
    });

    it("creates the cluster with its OIDC provider and one managed group of 4 m5.2xlarge nodes", () => {
      const c = one(ev.resources, T.eks).inputs;
      assert.equal(c.name, "flux-restful-eks");
      assert.equal(c.createOidcProvider, true);
      assert.equal(c.authenticationMode, "API");
      assert.equal(c.skipDefaultNodeGroup, true);
      assert.equal(c.nodeGroupOptions, undefined);
      const ng = one(ev.resources, T.nodeGroup).inputs;
      assert.deepEqual(ng.instanceTypes, ["m5.2xlarge"]);
      assert.deepEqual(ng.scalingConfig, { desiredSize: 4, minSize: 4, maxSize: 4 });
    });

    it("installs the pinned controller chart with an IRSA role trusted only by its service account", () => {
      const release = one(ev.resources, T.release).inputs;
      assert.equal(release.chart, LB_CONTROLLER.chart);
      assert.equal(release.version, "3.5.0");
      assert.equal(release.repositoryOpts.repo, "https://aws.github.io/eks-charts");
      assert.equal(release.namespace, "kube-system");
      assert.equal(release.values.clusterName, "flux-restful-eks");
      assert.equal(release.values.region, "us-east-2");
      assert.equal(release.values.vpcId, "eks-vpc-id");
      const role = ev.resources.find((r) => r.type === T.role && r.name === "lb-controller-role")!;
      const trust = JSON.parse(role.inputs.assumeRolePolicy);
      const eq = trust.Statement[0].Condition.StringEquals;
      const subject = Object.entries(eq).find(([k]) => k.endsWith(":sub"))![1];
      assert.equal(subject, serviceAccountSubject(release.namespace, release.values.serviceAccount.name));
      assert.equal(release.values.serviceAccount.annotations["eks.amazonaws.com/role-arn"], `arn:aws:iam::123456789012:role/${role.name}`);
      assert.equal(trust.Statement[0].Principal.Federated, "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-2.amazonaws.com/id/OFFLINE");
    });

    it("puts an internet-facing ALB with ip targets and a cheap health check in front of the Service", () => {
      const ingress = one(ev.resources, T.ingress).inputs;
      const svc = one(ev.resources, T.service).inputs;
      assert.equal(ingress.spec.ingressClassName, "alb");
      assert.equal(ingress.metadata.annotations["alb.ingress.kubernetes.io/scheme"], "internet-facing");
      assert.equal(ingress.metadata.annotations["alb.ingress.kubernetes.io/target-type"], "ip");
      assert.equal(ingress.metadata.annotations["alb.ingress.kubernetes.io/healthcheck-path"], "/healthz");
      assert.deepEqual(ingress.spec.rules[0].http.paths[0].backend.service, { name: svc.metadata.name, port: { number: svc.spec.ports[0].port } });
    });

    it("makes everything that creates Services wait for the controller, so destroy removes the Ingress first", () => {
      const deps = (type: string) => ev.options.find((o) => o.type === type)!.dependsOn;
      assert.ok(deps(T.operator).includes("lb-controller-release"), "operator manifest (it has a Service)");
      assert.ok(deps(T.service).includes("lb-controller-release"), "Service");
      assert.ok(deps(T.ingress).includes("lb-controller-release"), "Ingress");
      assert.ok(deps(T.ingress).includes("lb-controller-policy"), "Ingress waits for (and is deleted before) the IAM attachment");
      assert.ok(deps(T.release).includes("eks-nodes"), "the controller waits for nodes");
    });

    it("deploys the operator and the MiniCluster, credentials only in the Secret", () => { assertFluxRestful(ev, "flux-restful-eks"); });

    it("tells the sidecar about the ALB: client address and scheme from its headers, keep-alive past its idle timeout", () => {
      const env = sidecarOf(ev).environment!;
      const ingress = one(ev.resources, T.ingress).inputs;
      const albIdle = Number(/idle_timeout\.timeout_seconds=(\d+)/.exec(ingress.metadata.annotations["alb.ingress.kubernetes.io/load-balancer-attributes"])![1]);
      assert.equal(env.FLUX_TRUST_PROXY, "true");
      assert.ok(Number(env.FLUX_KEEPALIVE_TIMEOUT_SECONDS) > albIdle, `keep-alive ${env.FLUX_KEEPALIVE_TIMEOUT_SECONDS} s vs ALB idle ${albIdle} s`);
      assert.equal(env.FLUX_MAX_CONNECTIONS_PER_ADDRESS, env.FLUX_MAX_CONNECTIONS, "every connection comes from the ALB");
    });

    it("creates nothing on Google Cloud", () => assertNoneFrom(ev, "gcp:"));

    it("exports every output; the endpoint is the ALB hostname over HTTPS", async () => {
      await assertOutputs(ev.outputs);
      assert.deepEqual(await valueOf(ev.outputs.endpoint),
        { scheme: "https", host: "k8s-offline-0123456789.us-east-2.elb.amazonaws.com", port: 443 });
    });

    it("serves HTTPS by default: the generated certificate imported into ACM and put on the ALB's 443 listener", async () => {
      await assertGeneratedCa(ev);
      const acm = one(ev.resources, T.acm).inputs;
      assert.equal(acm.certificateBody, SERVER_PEM);
      assert.equal(acm.certificateChain, CA_PEM);
      assert.ok(isSecretValue(acm.privateKey));
      assert.equal(acm.privateKey.value, SERVER_KEY_PEM);
      const a = one(ev.resources, T.ingress).inputs.metadata.annotations;
      assert.equal(a["alb.ingress.kubernetes.io/certificate-arn"], "arn:aws:acm:us-east-2:123456789012:certificate/offline-api-certificate");
      assert.deepEqual(JSON.parse(a["alb.ingress.kubernetes.io/listen-ports"]), [{ HTTP: 80 }, { HTTPS: 443 }]);
      assert.equal(a["alb.ingress.kubernetes.io/ssl-redirect"], "443");
      assert.ok(ev.options.find((o) => o.type === T.ingress)!.propertyDeps.metadata.includes("api-certificate"),
        "the Ingress follows (and is deleted before) the imported certificate");
    });

    it("names every ALB host of the region in the certificate: one wildcard label, as ALB host names have", async () => {
      const names = one(ev.resources, T.certRequest).inputs.dnsNames as string[];
      assert.deepEqual(names, ["*.us-east-2.elb.amazonaws.com"]);
      const host = (await valueOf(ev.outputs.endpoint)).host;
      const [label, ...rest] = host.split(".");
      assert.ok(!label.includes("*") && rest.join(".") === names[0].slice(2), `${host} matches ${names[0]}`);
    });

    it("keeps the HTTPS ALB on the user's ACM certificate when certificateArn is set, and limits inbound CIDRs", async () => {
      const arn = "arn:aws:acm:us-east-2:123456789012:certificate/abc-123";
      const custom = await evaluate("eks", { "flux-restful:certificateArn": arn, "flux-restful:inboundCidrs": "203.0.113.0/24" });
      const a = one(custom.resources, T.ingress).inputs.metadata.annotations;
      assert.equal(a["alb.ingress.kubernetes.io/certificate-arn"], arn);
      assert.equal(a["alb.ingress.kubernetes.io/ssl-redirect"], "443");
      assert.equal(a["alb.ingress.kubernetes.io/inbound-cidrs"], "203.0.113.0/24");
      assertNoGeneratedTls(custom);
      assert.deepEqual(await valueOf(custom.outputs.endpoint),
        { scheme: "https", host: "k8s-offline-0123456789.us-east-2.elb.amazonaws.com", port: 443 });
    });

    it("serves plain HTTP on port 80 only with insecureHttp, and warns", async () => {
      const { result: plain, warned } = await warnings(() => evaluate("eks", { "flux-restful:insecureHttp": "true" }));
      assert.equal(warned.length, 1);
      assert.match(warned[0], /insecureHttp/);
      assertNoGeneratedTls(plain);
      const a = one(plain.resources, T.ingress).inputs.metadata.annotations;
      assert.equal(a["alb.ingress.kubernetes.io/certificate-arn"], undefined);
      assert.deepEqual(JSON.parse(a["alb.ingress.kubernetes.io/listen-ports"]), [{ HTTP: 80 }]);
      assert.deepEqual(await valueOf(plain.outputs.endpoint),
        { scheme: "http", host: "k8s-offline-0123456789.us-east-2.elb.amazonaws.com", port: 80 });
    });
  });

  describe("local", () => {
    const PINNED = { "flux-restful:kubeContext": "kind-dev" };
    let ev: Evaluation;
    const saved = process.env.KUBECONFIG;
    before(async () => {
      process.env.KUBECONFIG = tempFile("kubeconfig", TWO_CONTEXT_KUBECONFIG);
      ev = await evaluate("local", PINNED);
    });
    after(() => {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    });

    it("deploys onto the pinned context with no cloud resources", () => {
      assertNoneFrom(ev, "gcp:", "aws:", "eks:");
      assertFluxRestful(ev, "flux-restful-local");
    });

    it("exports a port-forward endpoint and a kubeconfig holding only the pinned context", async () => {
      await assertOutputs(ev.outputs);
      assert.deepEqual(await valueOf(ev.outputs.endpoint), { scheme: "http", host: "127.0.0.1", port: 5000 });
      assertNoGeneratedTls(ev);
      assert.equal(ev.outputs.portForwardCommand, "kubectl -n flux-restful-local port-forward svc/flux-restful-api 5000:5000");
      assert.equal(await valueOf(ev.outputs.clusterName), "kind-dev");
      assert.ok(!(await valueOf(ev.outputs.kubeconfig)).includes("prod-secret-token"));
    });

    it("uses a node address and the NodePort when one is configured", async () => {
      const custom = await evaluate("local", { ...PINNED, "flux-restful:nodeAddress": "172.18.0.2" });
      assert.deepEqual(await valueOf(custom.outputs.endpoint), { scheme: "http", host: "172.18.0.2", port: 30093 });
      assert.equal(custom.outputs.portForwardCommand, undefined);
    });

    it("polls the endpoint only at a node address: a port-forward is not running during pulumi up", async () => {
      const asked: string[] = [];
      const waitUntilReady = async (url: string) => { asked.push(url); };
      await valueOf((await evaluate("local", PINNED, {}, { waitUntilReady })).outputs.url);
      assert.deepEqual(asked, []);
      await valueOf((await evaluate("local", { ...PINNED, "flux-restful:nodeAddress": "172.18.0.2" }, {}, { waitUntilReady })).outputs.url);
      assert.deepEqual(asked, ["http://172.18.0.2:30093"]);
    });
  });

  describe("the workspace", () => {
    it("with your claim: every pod mounts it at /workspace through the broker's container, no claim created", async () => {
      const ev = await evaluate("gke", { "flux-restful:workspaceClaim": "my-filestore" });
      const mc = assertFluxRestful(ev, "flux-restful-gke");
      assert.deepEqual(mc.spec.containers[0].volumes, { workspace: { claimName: "my-filestore", path: "/workspace" } });
      assert.equal(sidecarOf(ev).environment!.FLUX_WORKSPACE, "/workspace");
      assert.deepEqual(ofType(ev.resources, T.claim), []);
      assert.equal(one(ev.resources, T.cluster).inputs.addonsConfig, undefined, "the cluster is left as it is");
    });

    it("from a GKE storage class: the cluster gets the Filestore CSI driver that provides it", async () => {
      const ev = await evaluate("gke", { "flux-restful:workspaceStorageClass": "standard-rwx" });
      assert.deepEqual(one(ev.resources, T.cluster).inputs.addonsConfig, { gcpFilestoreCsiDriverConfig: { enabled: true } });
      assert.equal(one(ev.resources, T.claim).inputs.spec.storageClassName, "standard-rwx");
    });

    it("from a storage class: a ReadWriteMany claim in the namespace, created before the MiniCluster that mounts it", async () => {
      const ev = await evaluate("eks", { "flux-restful:workspaceStorageClass": "efs-sc", "flux-restful:workspaceSize": "100Gi" });
      const mc = assertFluxRestful(ev, "flux-restful-eks");
      const claim = one(ev.resources, T.claim);
      assert.equal(claim.inputs.metadata.namespace, "flux-restful-eks");
      assert.deepEqual(claim.inputs.spec, { accessModes: ["ReadWriteMany"], storageClassName: "efs-sc", resources: { requests: { storage: "100Gi" } } });
      assert.equal(mc.spec.containers[0].volumes!.workspace.claimName, claim.inputs.metadata.name);
      assert.ok(ev.options.find((o) => o.type === T.miniCluster)!.dependsOn.includes(claim.name));
    });
  });

  describe("before any resource", () => {
    it("fails on invalid config with the key's name", async () => {
      await assert.rejects(evaluate("gke", { "flux-restful:size": "9" }), (err: unknown) =>
        err instanceof ConfigError && err.key === "flux-restful:size");
      await settle();
      assert.deepEqual(lastDeclared.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
      await assert.rejects(evaluate("gke", { "gcp:project": "" }), /Invalid configuration "gcp:project"/);
      await settle();
      assert.deepEqual(lastDeclared.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
    });

    it("fails without the sidecar bundle, saying to build it", async () => {
      await assert.rejects(evaluate("gke", {}, {}, { bundlePath: `${BUNDLE_PATH}.missing` }), (err: unknown) =>
        err instanceof BundleMissingError && /run `npm run build` first/.test(err.message));
      await settle();
      assert.deepEqual(lastDeclared.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
    });
  });
});
