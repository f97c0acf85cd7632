/**
 * The stack's second day under mocks: what a later run declares compared with the first. Where the
 * engine's own rules decide (provider update or replacement, delete-first, ignored changes), the tests
 * assert the provider inputs and resource options those rules read:
 * - pulumi-kubernetes DiffConfig: while `clusterIdentifier` is present and unchanged, no provider
 *   config change replaces the provider, so no object using it is replaced;
 * - the engine: `deleteBeforeReplace` deletes the old object before creating its replacement;
 *   `ignoreChanges` diffs the listed inputs against their old values;
 * - pulumi-kubernetes 4.34 forceNewProperties (provider/pkg/provider/diff.go): which changed inputs
 *   make the provider answer "replace" rather than "update" (modelled in `forceNewPaths` below).
 */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { replaceDeleteFirst } from "../../components/flux-operator";
import { FLUX_OPERATOR } from "../../components/flux-operator.build";
import { ConfigError } from "../../infra/config";
import { Fakes, maskSecrets } from "../../infra/mocks";
import { SourceError } from "../../infra/sources";
import { Evaluation, evaluate, lastDeclared, ofType, one, tempFile } from "./harness";
import { OPERATOR_MANIFEST, TWO_CONTEXT_KUBECONFIG } from "./fixtures";

const PROVIDER = "pulumi:providers:kubernetes";

/** What the engine compares between runs: every resource's type, name and inputs (resource references by name), and its options. */
function declared(ev: Evaluation) {
  const resources = ev.resources.map((r) => ({ type: r.type, name: r.name, inputs: maskSecrets(r.inputs, (_, value) => ({ secret: value })) }));
  return { resources, options: ev.options };
}

/** The same, with the Kubernetes provider's kubeconfig left out. */
function identities(ev: Evaluation) {
  const { resources, options } = declared(ev);
  return {
    resources: resources.map((r) => (r.type === PROVIDER ? { ...r, inputs: { ...r.inputs, kubeconfig: "(left out)" } } : r)),
    options,
  };
}

const providerOf = (ev: Evaluation) => one(ev.resources, PROVIDER).inputs;
const CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup";
/** Kubernetes objects the program declares itself (the ConfigGroup is a component: its objects are the operator's). */
const objectsOf = (ev: Evaluation) => ev.options.filter((o) => o.type.startsWith("kubernetes:") && o.type !== CONFIG_GROUP);

/** Objects with fixed or content-derived names must be replaced delete-first, or they collide with themselves. */
function assertReplacedDeleteFirst(ev: Evaluation, expectedKinds: string[]): void {
  const objects = objectsOf(ev);
  assert.deepEqual([...new Set(objects.map((o) => o.type.split(":").pop()))].sort(), [...expectedKinds].sort());
  for (const o of objects) assert.equal(o.deleteBeforeReplace, true, `${o.type} ${o.name}`);
  const group = ev.options.filter((o) => o.type === CONFIG_GROUP);
  assert.deepEqual(group.map((o) => o.transforms), [["replaceDeleteFirst"]], "every operator object, through a transform");
}

/** Objects in the MiniCluster's namespace take it from the Namespace resource, so replacing it replaces them. */
function assertFollowNamespace(ev: Evaluation): void {
  const namespaced = objectsOf(ev).filter((o) => !/:(Namespace|Release)$/.test(o.type));
  assert.ok(namespaced.length >= 5);
  for (const o of namespaced) {
    // Beside the namespace, the Ingress's annotations name the imported ACM certificate (EKS).
    const expected = o.type.endsWith(":Ingress") ? ["api-certificate", "flux-namespace"] : ["flux-namespace"];
    assert.deepEqual(o.propertyDeps.metadata, expected, `${o.type} ${o.name}`);
  }
}

/** The last evaluation, which failed, got no further than the root Stack resource. */
function assertNothingDeclared(): void {
  assert.deepEqual(lastDeclared.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
}

const secretText = (value: { value: string }) => value.value;

const rotatedGke: Fakes = {
  outputs: {
    "gcp:container/cluster:Cluster": () => ({
      endpoint: "203.0.113.99",
      masterAuth: { clusterCaCertificate: Buffer.from("rotated CA certificate").toString("base64") },
    }),
  },
};

const rotatedEks: Fakes = {
  outputs: {
    "eks:index:Cluster": (a) => ({
      kubeconfigJson: JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: a.inputs.name, cluster: { server: "https://ROTATED.gr7.us-east-2.eks.amazonaws.com", "certificate-authority-data": "cm90YXRlZA==" } }],
      }),
    }),
  },
};

/** Each cloud's rotation, and the new server it puts in the kubeconfig. */
const ROTATIONS = [["gke", rotatedGke, "https://203.0.113.99"], ["eks", rotatedEks, "https://ROTATED.gr7.us-east-2.eks.amazonaws.com"]] as const;

const T = {
  secret: "kubernetes:core/v1:Secret",
  configMap: "kubernetes:core/v1:ConfigMap",
  claim: "kubernetes:core/v1:PersistentVolumeClaim",
  miniCluster: "kubernetes:flux-framework.org/v1alpha2:MiniCluster",
  service: "kubernetes:core/v1:Service",
};

/**
 * The inputs whose change makes pulumi-kubernetes 4.34 replace an object of the kinds the program
 * declares (diff.go, forceNewProperties): the name and namespace of any object; a Secret's type and
 * data unless the provider has enableSecretMutable and the Secret is not immutable; a ConfigMap's data
 * unless enableConfigMapMutable, likewise; a claim's access modes, selector, class and volume. Custom
 * resources (the MiniCluster) have none but the name and namespace.
 */
function forceNewPaths(type: string, inputs: Record<string, any>, provider: Record<string, any>): string[] {
  const paths = ["metadata.name", "metadata.namespace"];
  const mutable = (flag: string) => String(provider[flag]) === "true" && inputs.immutable !== true;
  if (type === T.secret && !mutable("enableSecretMutable")) paths.push("type", "stringData", "data");
  if (type === T.configMap && !mutable("enableConfigMapMutable")) paths.push("binaryData", "data");
  if (type === T.claim) paths.push("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName");
  return paths;
}

const at = (value: any, dotted: string) => dotted.split(".").reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), value);

type Step = "same" | "update" | "replace" | "create" | "delete";

/** What the engine would do to each Kubernetes object between two runs, by the provider's rule above. */
function steps(before: Evaluation, after: Evaluation): Record<string, Step> {
  const objects = (ev: Evaluation) => new Map(declared(ev).resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => [`${r.type.split(":").pop()} ${r.name}`, r]));
  const [old, now] = [objects(before), objects(after)];
  const provider = declared(after).resources.find((r) => r.type === PROVIDER)!.inputs;
  const result: Record<string, Step> = {};
  for (const [key, r] of now) {
    const was = old.get(key);
    if (!was) result[key] = "create";
    else if (JSON.stringify(was.inputs) === JSON.stringify(r.inputs)) result[key] = "same";
    else {
      const replaced = forceNewPaths(r.type, r.inputs, provider).some((p) => JSON.stringify(at(was.inputs, p)) !== JSON.stringify(at(r.inputs, p)));
      result[key] = replaced ? "replace" : "update";
    }
  }
  for (const key of old.keys()) if (!now.has(key)) result[key] = "delete";
  return result;
}

/** Only the objects that change. */
const changed = (all: Record<string, Step>) => Object.fromEntries(Object.entries(all).filter(([, step]) => step !== "same"));

const PINNED = { "flux-restful:kubeContext": "kind-dev" };
/** The same file after `kubectl config use-context prod`. */
const SWITCHED = TWO_CONTEXT_KUBECONFIG.replace("current-context: kind-dev", "current-context: prod");
/** The same file after the kind cluster was recreated: a new port, CA and credentials. */
const RECREATED = TWO_CONTEXT_KUBECONFIG
  .replace('cluster: { server: "https://127.0.0.1:6443" }', 'cluster: { server: "https://127.0.0.1:40123", certificate-authority-data: "bmV3IENB" }')
  .replace("user: { token: dev-token }", "user: { token: new-dev-token }");

/** Evaluates the local stack with this kubeconfig file as KUBECONFIG. */
async function evaluateLocal(kubeconfig: string, overrides: Record<string, string> = PINNED): Promise<Evaluation> {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = tempFile("kubeconfig-lifecycle", kubeconfig);
  try {
    return await evaluate("local", overrides);
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
}

describe("infra lifecycle (mocked)", function () {
  this.timeout(60_000);

  describe("the Kubernetes providers", () => {
    it("identify the cluster from config (GKE: project/zone/name; EKS: region/name) and never set deleteUnreachable", async () => {
      const gke = providerOf(await evaluate("gke"));
      assert.equal(gke.clusterIdentifier, "projects/test-project/locations/us-central1-a/clusters/flux-restful-gke");
      assert.ok(!("deleteUnreachable" in gke), "a transient failure must never drop objects from the state");
      const eks = providerOf(await evaluate("eks", { "aws:region": "eu-west-1", "flux-restful:clusterName": "c2" }));
      assert.equal(eks.clusterIdentifier, "eu-west-1/c2");
      assert.ok(!("deleteUnreachable" in eks));
    });

    it("leave the escape hatch to PULUMI_K8S_DELETE_UNREACHABLE, which reaches the provider unchanged", async () => {
      const saved = process.env.PULUMI_K8S_DELETE_UNREACHABLE;
      process.env.PULUMI_K8S_DELETE_UNREACHABLE = "true";
      try {
        assert.equal(providerOf(await evaluate("gke")).deleteUnreachable, "true");
      } finally {
        if (saved === undefined) delete process.env.PULUMI_K8S_DELETE_UNREACHABLE;
        else process.env.PULUMI_K8S_DELETE_UNREACHABLE = saved;
      }
    });

    it("get a new identifier for a new cluster name, so a move replaces the provider and creates the objects in the new cluster", async () => {
      const before = providerOf(await evaluate("gke"));
      const after = providerOf(await evaluate("gke", { "flux-restful:clusterName": "flux-restful-2" }));
      assert.notEqual(after.clusterIdentifier, before.clusterIdentifier);
    });
  });

  describe("outside sources", () => {
    const offline = async () => { throw new TypeError("fetch failed", { cause: new Error("getaddrinfo ENOTFOUND raw.githubusercontent.com") }); };

    for (const stack of ["gke", "eks"]) {
      it(`${stack}: a failed manifest download declares no resource and says what it could not reach`, async () => {
        await assert.rejects(evaluate(stack, {}, {}, { fetch: offline }), (err: unknown) =>
          err instanceof SourceError && err.message.startsWith(`Could not download the Flux Operator 0.2.1 manifest ${FLUX_OPERATOR.manifestUrl}: fetch failed (getaddrinfo ENOTFOUND`));
        assertNothingDeclared();
      });
    }

    it("a manifest that is not the pinned one declares no resource", async () => {
      const wrongBytes = async () => ({ ok: true, status: 200, arrayBuffer: async () => new TextEncoder().encode(OPERATOR_MANIFEST).buffer as ArrayBuffer });
      await assert.rejects(evaluate("gke", {}, {}, { fetch: wrongBytes }), (err: unknown) =>
        err instanceof SourceError && /^Refusing the Flux Operator 0\.2\.1 manifest .*: its sha256 is [0-9a-f]{64}, not the pinned/.test(err.message));
      assertNothingDeclared();
    });

    it("as Pulumi runs the program, the failure is one line like a config error (a RunError: no stack trace)", async () => {
      const asRun = (fetch?: typeof offline) => evaluate("gke", fetch ? {} : { "flux-restful:size": "9" }, {}, { fetch, asPulumiRunsIt: true });
      await assert.rejects(asRun(offline), (err: unknown) =>
        err instanceof pulumi.RunError && !err.message.includes("\n") && err.message.includes(FLUX_OPERATOR.manifestUrl));
      await assert.rejects(asRun(), (err: unknown) =>
        err instanceof pulumi.RunError && /^Invalid configuration "flux-restful:size"/.test(err.message));
    });
  });

  describe("credentials", () => {
    it("stored in plain text are refused before any resource, with the --secret command to use", async () => {
      await assert.rejects(evaluate("gke", { "flux-restful:fluxToken": "typed-without-secret" }), (err: unknown) =>
        err instanceof ConfigError && err.key === "flux-restful:fluxToken" &&
        err.message.endsWith("Store it encrypted instead: pulumi config set --secret flux-restful:fluxToken <value>"));
      assertNothingDeclared();
    });

    it("stored as secrets are accepted", async () => {
      const ev = await evaluate("gke", {}, { "flux-restful:fluxToken": "from-a-secret", "flux-restful:fluxSecretKey": "key-from-a-secret" });
      assert.equal(ofType(ev.resources, "random:index/randomPassword:RandomPassword").length, 0);
    });
  });

  describe("replacements", () => {
    it("delete every object the program names before creating its replacement (gke)", async () => {
      const ev = await evaluate("gke", {}, { "flux-restful:tlsCertificate": "CERT", "flux-restful:tlsKey": "KEY" });
      assertReplacedDeleteFirst(ev, ["Namespace", "Secret", "ConfigMap", "MiniCluster", "Service"]);
      assertFollowNamespace(ev);
      const withClaim = await evaluate("gke", { "flux-restful:workspaceStorageClass": "standard-rwx" });
      assertReplacedDeleteFirst(withClaim, ["Namespace", "Secret", "ConfigMap", "MiniCluster", "Service", "PersistentVolumeClaim"]);
      assertFollowNamespace(withClaim);
    });

    it("delete every object the program names before creating its replacement (eks: also the Ingress and the controller's release)", async () => {
      const ev = await evaluate("eks");
      assertReplacedDeleteFirst(ev, ["Namespace", "Secret", "ConfigMap", "MiniCluster", "Service", "Ingress", "Release"]);
      assertFollowNamespace(ev);
    });

    it("the operator's transform sets delete-first and keeps everything else", async () => {
      const provider = {} as pulumi.ProviderResource;
      const args = { type: "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", name: "crd", props: { a: 1 }, opts: { provider }, custom: true };
      const result = await replaceDeleteFirst(args as pulumi.ResourceTransformArgs);
      assert.deepEqual(result, { props: { a: 1 }, opts: { provider, deleteBeforeReplace: true } });
    });
  });

  describe("upgrades", () => {
    let first: Evaluation;
    before(async () => { first = await evaluate("gke"); });

    it("a new sidecar bundle updates the ConfigMap in place and nothing else: the MiniCluster and its jobs stay", async () => {
      const later = await evaluate("gke", {}, {}, { bundlePath: tempFile("next-sidecar.js", "// the next build\n") });
      assert.deepEqual(changed(steps(first, later)), { "ConfigMap flux-sidecar": "update" });
    });

    it("rotated credentials update the Secret in place and nothing else", async () => {
      const rotated = await evaluate("gke", {}, { "flux-restful:fluxToken": "rotated-token", "flux-restful:fluxSecretKey": "rotated-key" });
      assert.deepEqual(changed(steps(first, rotated)), { "Secret flux-credentials": "update" });
      const again = await evaluate("gke", {}, { "flux-restful:fluxToken": "rotated-again", "flux-restful:fluxSecretKey": "rotated-key" });
      assert.deepEqual(changed(steps(rotated, again)), { "Secret flux-credentials": "update" });
    });

    it("a renewed TLS certificate updates its Secret in place", async () => {
      const tls = (cert: string) => ({ "flux-restful:tlsCertificate": cert, "flux-restful:tlsKey": "KEY" });
      const [one_, two] = [await evaluate("gke", {}, tls("CERT-1")), await evaluate("gke", {}, tls("CERT-2"))];
      assert.deepEqual(changed(steps(one_, two)), { "Secret flux-tls": "update" });
    });

    it("a change the operator ignores on a running MiniCluster replaces it (a new name: the preview says replace), delete-first", async () => {
      const bigger = await evaluate("gke", { "flux-restful:size": "3", "flux-restful:nodeCount": "4" });
      const smaller = await evaluate("gke", { "flux-restful:size": "2", "flux-restful:nodeCount": "4" });
      // The Service follows the new MiniCluster's pods (its selector names the Job).
      assert.deepEqual(changed(steps(bigger, smaller)), { "MiniCluster flux-minicluster": "replace", "Service api-service": "update" });
      assert.equal(smaller.options.find((o) => o.type === T.miniCluster)!.deleteBeforeReplace, true);
      const otherView = await evaluate("gke", { "flux-restful:fluxViewImage": "ghcr.io/converged-computing/flux-view-rocky:tag-8" });
      assert.equal(steps(first, otherView)["MiniCluster flux-minicluster"], "replace");
    });

    it("a workspace claim made from a storage class: created, and the MiniCluster replaced to mount it; another class is another claim", async () => {
      const rwx = await evaluate("gke", { "flux-restful:workspaceStorageClass": "standard-rwx" });
      assert.deepEqual(changed(steps(first, rwx)), {
        "PersistentVolumeClaim flux-workspace": "create", "MiniCluster flux-minicluster": "replace", "Service api-service": "update",
      });
      const grown = await evaluate("gke", { "flux-restful:workspaceStorageClass": "standard-rwx", "flux-restful:workspaceSize": "2Ti" });
      assert.deepEqual(changed(steps(rwx, grown)), { "PersistentVolumeClaim flux-workspace": "update" }, "a bigger claim is expanded in place");
      const other = await evaluate("gke", { "flux-restful:workspaceStorageClass": "premium-rwx" });
      assert.equal(steps(rwx, other)["PersistentVolumeClaim flux-workspace"], "replace");
      assert.equal(steps(rwx, other)["MiniCluster flux-minicluster"], "replace", "its pods no longer hold the old claim");
    });

    it("the rule itself: without the providers' mutable settings the same changes would replace", () => {
      const provider = {};
      assert.ok(forceNewPaths(T.configMap, {}, provider).includes("data"));
      assert.ok(forceNewPaths(T.secret, {}, provider).includes("stringData"));
      const mutable = { enableConfigMapMutable: "true", enableSecretMutable: "true" };
      assert.ok(!forceNewPaths(T.configMap, {}, mutable).includes("data"));
      assert.ok(forceNewPaths(T.configMap, { immutable: true }, mutable).includes("data"), "an immutable ConfigMap is always replaced");
      for (const ev of [first]) {
        const providerInputs = one(ev.resources, PROVIDER).inputs;
        assert.equal(String(providerInputs.enableConfigMapMutable), "true");
        assert.equal(String(providerInputs.enableSecretMutable), "true");
      }
    });

    it("every stack's provider allows in-place updates of ConfigMaps and Secrets", async () => {
      for (const ev of [await evaluate("eks"), await evaluateLocal(TWO_CONTEXT_KUBECONFIG)]) {
        const providerInputs = one(ev.resources, PROVIDER).inputs;
        assert.deepEqual([String(providerInputs.enableConfigMapMutable), String(providerInputs.enableSecretMutable)], ["true", "true"]);
      }
    });
  });

  describe("eks availability zones", () => {
    const SUBNET = "aws:ec2/subnet:Subnet";
    const zonesNow = (names: string[]): Fakes => ({ calls: { "aws:index/getAvailabilityZones:getAvailabilityZones": () => ({ names }) } });

    it("a shifted zone list changes only inputs the subnets ignore: no subnet is replaced", async () => {
      const first = await evaluate("eks", {}, {}, { fakes: zonesNow(["zone-a", "zone-b", "zone-c"]) });
      const later = await evaluate("eks", {}, {}, { fakes: zonesNow(["zone-b", "zone-c"]) });
      const zonesOf = (ev: Evaluation) => ofType(ev.resources, SUBNET).map((r) => r.inputs.availabilityZone);
      assert.deepEqual(zonesOf(first), ["zone-a", "zone-b", "zone-a", "zone-b"]);
      assert.deepEqual(zonesOf(later), ["zone-b", "zone-c", "zone-b", "zone-c"]);
      const subnetOptions = later.options.filter((o) => o.type === SUBNET);
      assert.equal(subnetOptions.length, 4);
      for (const o of subnetOptions) assert.ok(o.ignoreChanges?.includes("availabilityZone"), o.name);
      // Everything else the engine compares is unchanged (the CIDRs included).
      const withoutZones = (ev: Evaluation) => {
        const d = declared(ev);
        return { ...d, resources: d.resources.map((r) => (r.type === SUBNET ? { ...r, inputs: { ...r.inputs, availabilityZone: "(ignored)" } } : r)) };
      };
      assert.deepEqual(withoutZones(later), withoutZones(first));
    });
  });

  describe("local", () => {
    let first: Evaluation;
    before(async () => { first = await evaluateLocal(TWO_CONTEXT_KUBECONFIG); });

    it("identifies the cluster by the pinned context's cluster entry", () => {
      assert.equal(providerOf(first).clusterIdentifier, "kind-dev");
    });

    it("declares the same resources with the same options on a second run with no change", async () => {
      assert.deepEqual(declared(await evaluateLocal(TWO_CONTEXT_KUBECONFIG)), declared(first));
    });

    it("does not follow kubectl's current context: switching it changes nothing", async () => {
      assert.deepEqual(declared(await evaluateLocal(SWITCHED)), declared(first));
    });

    it("after the cluster was recreated (new server, CA and credentials), changes only the provider's kubeconfig", async () => {
      const later = await evaluateLocal(RECREATED);
      assert.match(secretText(providerOf(later).kubeconfig), /127\.0\.0\.1:40123/);
      assert.notEqual(secretText(providerOf(later).kubeconfig), secretText(providerOf(first).kubeconfig));
      assert.deepEqual(identities(later), identities(first));
    });

    it("refuses to run unpinned, before declaring anything, naming the current context to pin", async () => {
      await assert.rejects(evaluateLocal(SWITCHED, {}), (err: unknown) =>
        err instanceof ConfigError && /pulumi config set flux-restful:kubeContext prod \(your current context\)/.test(err.message));
      assertNothingDeclared();
    });
  });

  for (const [stack, rotated, newServer] of ROTATIONS) {
    describe(stack, () => {
      let first: Evaluation;
      before(async () => { first = await evaluate(stack); });

      it("declares the same resources with the same options on a second run with no change", async () => {
        assert.deepEqual(declared(await evaluate(stack)), declared(first));
      });

      it("after a rotated endpoint and CA, changes only the provider's kubeconfig, not its identifier nor any object", async () => {
        const later = await evaluate(stack, {}, {}, { fakes: rotated });
        const [kubeconfigBefore, kubeconfigAfter] = [first, later].map((ev) => secretText(providerOf(ev).kubeconfig));
        assert.notEqual(kubeconfigAfter, kubeconfigBefore);
        assert.ok(kubeconfigAfter.includes(newServer));
        assert.deepEqual(identities(later), identities(first));
        assert.equal(ofType(later.resources, PROVIDER).length, 1);
      });
    });
  }
});
