/**
 * Pulumi and cloud conventions on the rendered stacks: the stack's labels and tags on every cloud
 * resource that takes them, and the GKE nodes' own least-privilege identity.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { stackLabels, stackTags } from "../../components/names.build";
import { NODE_SERVICE_ACCOUNT_ROLES, nodeServiceAccountId } from "../../components/gke-cluster.build";
import { Evaluation, evaluate, ofType, one } from "./harness";

const T = {
  account: "gcp:serviceaccount/account:Account",
  member: "gcp:projects/iAMMember:IAMMember",
  nodePool: "gcp:container/nodePool:NodePool",
};

const SDKS = path.join(__dirname, "..", "..", "node_modules", "@pulumi");
/** Cloud labels by package (an EKS node group's `labels` are Kubernetes node labels, not AWS tags). */
const LABEL_INPUTS: Record<string, string[]> = { aws: ["tags"], eks: ["tags"], gcp: ["labels", "resourceLabels"] };

/** The label or tag inputs a resource type takes, read from its SDK class ("aws:iam/role:Role": @pulumi/aws/iam/role.js). */
function labelInputsOf(type: string): string[] {
  const [pkg, mod, cls] = type.split(":");
  const base = mod === "index" ? cls[0].toLowerCase() + cls.slice(1) : mod;
  const file = [`${base}.js`, `${base.toLowerCase()}.js`].map((f) => path.join(SDKS, pkg, f)).find((f) => fs.existsSync(f));
  if (!file) throw new Error(`no SDK class found for ${type}`);
  const source = fs.readFileSync(file, "utf8");
  return LABEL_INPUTS[pkg].filter((input) => source.includes(`resourceInputs["${input}"] = args?.${input}`));
}

const CLOUD = /^(aws|gcp|eks):/;

/** Provider configuration reaches the engine as text: a structured value as JSON. */
const providerInput = (value: unknown) => (typeof value === "string" && /^[[{]/.test(value) ? JSON.parse(value) : value);

describe("cloud conventions (mocked)", function () {
  this.timeout(60_000);

  it("reads which inputs are labels or tags from the SDK classes themselves", () => {
    assert.deepEqual(labelInputsOf("aws:iam/role:Role"), ["tags"]);
    assert.deepEqual(labelInputsOf("gcp:container/cluster:Cluster"), ["resourceLabels"]);
    assert.deepEqual(labelInputsOf("eks:index:ManagedNodeGroup"), ["tags"]);
    assert.deepEqual(labelInputsOf("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), []);
  });

  describe("the stack's labels on Google Cloud", () => {
    let ev: Evaluation;
    before(async () => { ev = await evaluate("team-a", {}, {}, { stackFile: "gke" }); });
    const labels = { "pulumi-project": "flux-restful", "pulumi-stack": "team-a" };

    it("are the provider's default labels, and every Google resource goes through that provider", () => {
      assert.deepEqual(stackLabels("flux-restful", "team-a"), labels);
      assert.deepEqual(stackLabels("flux-restful", "Team.A"), { "pulumi-project": "flux-restful", "pulumi-stack": "team_a" });
      const provider = one(ev.resources, "pulumi:providers:gcp");
      assert.deepEqual(providerInput(provider.inputs.defaultLabels), labels);
      assert.deepEqual([provider.inputs.project, provider.inputs.zone], ["test-project", "us-central1-a"]);
      const google = ev.resources.filter((r) => r.type.startsWith("gcp:"));
      assert.ok(google.length >= 5);
      for (const r of google) assert.match(r.provider ?? "", /pulumi:providers:gcp::gcp::/, `${r.type} ${r.name}`);
    });

    it("are set on every Google resource that takes labels, and on the nodes' VMs and disks", () => {
      const labelled = ev.resources.filter((r) => r.type.startsWith("gcp:") && labelInputsOf(r.type).length > 0);
      assert.deepEqual(labelled.map((r) => r.type), ["gcp:container/cluster:Cluster"]);
      for (const r of labelled) for (const input of labelInputsOf(r.type)) assert.deepEqual(r.inputs[input], labels, `${r.type}.${input}`);
      assert.deepEqual(one(ev.resources, T.nodePool).inputs.nodeConfig.resourceLabels, labels);
    });
  });

  describe("the stack's tags on AWS", () => {
    let ev: Evaluation;
    before(async () => { ev = await evaluate("team-a", {}, {}, { stackFile: "eks" }); });
    const tags = { "pulumi:project": "flux-restful", "pulumi:stack": "team-a" };

    it("are the provider's default tags, and every AWS resource goes through that provider", () => {
      assert.deepEqual(stackTags("flux-restful", "team-a"), tags);
      const provider = one(ev.resources, "pulumi:providers:aws");
      assert.deepEqual(providerInput(provider.inputs.defaultTags), { tags });
      assert.equal(provider.inputs.region, "us-east-2");
      const amazon = ev.resources.filter((r) => r.type.startsWith("aws:"));
      assert.ok(amazon.length >= 15);
      for (const r of amazon) assert.match(r.provider ?? "", /pulumi:providers:aws::aws::/, `${r.type} ${r.name}`);
    });

    it("reach the EKS components, which run in their own plugin, as their tags and their aws provider", () => {
      const components = ev.resources.filter((r) => r.type.startsWith("eks:"));
      assert.deepEqual(components.map((r) => r.type).sort(), ["eks:index:Cluster", "eks:index:ManagedNodeGroup"]);
      for (const r of components) {
        for (const input of labelInputsOf(r.type)) assert.deepEqual(r.inputs[input], tags, `${r.type}.${input}`);
        assert.deepEqual(ev.options.find((o) => o.type === r.type)!.providers, ["aws"], `${r.type} is handed the aws provider`);
      }
    });
  });

  it("leave no cloud resource unlabelled: AWS ones through the provider's default tags, the others in their own inputs", async () => {
    for (const file of ["gke", "eks"]) {
      const ev = await evaluate("team-b", {}, {}, { stackFile: file });
      for (const r of ev.resources.filter((x) => CLOUD.test(x.type))) {
        const pkg = r.type.split(":")[0];
        const own = labelInputsOf(r.type).every((input) => Object.values(r.inputs[input] ?? {}).includes("team-b"));
        const where = `${r.type} ${r.name} (provider ${r.provider})`;
        if (pkg === "aws") assert.match(r.provider ?? "", /pulumi:providers:aws::aws::/, where);
        if (pkg === "gcp") assert.ok(/pulumi:providers:gcp::gcp::/.test(r.provider ?? "") && own, where);
        if (pkg === "eks") assert.ok(own && ev.options.find((o) => o.type === r.type)!.providers.includes("aws"), where);
      }
    }
  });

  describe("the GKE nodes' service account", () => {
    let ev: Evaluation;
    before(async () => { ev = await evaluate("gke"); });

    it("is the nodes' own account, named after the cluster, in the stack's project", () => {
      const account = one(ev.resources, T.account).inputs;
      assert.equal(account.accountId, "flux-restful-gke-nodes");
      assert.equal(account.project, "test-project");
      const pool = one(ev.resources, T.nodePool).inputs;
      assert.equal(pool.nodeConfig.serviceAccount, "flux-restful-gke-nodes@test-project.iam.gserviceaccount.com");
      assert.deepEqual(pool.nodeConfig.oauthScopes, ["https://www.googleapis.com/auth/cloud-platform"], "IAM alone decides what it may do");
    });

    it("holds exactly the role Google documents for nodes, on the project, granted before the nodes start", () => {
      assert.deepEqual(NODE_SERVICE_ACCOUNT_ROLES, ["roles/container.defaultNodeServiceAccount"]);
      const members = ofType(ev.resources, T.member).map((m) => m.inputs);
      assert.deepEqual(members, [{
        project: "test-project",
        role: "roles/container.defaultNodeServiceAccount",
        member: "serviceAccount:flux-restful-gke-nodes@test-project.iam.gserviceaccount.com",
      }]);
      const pool = ev.options.find((o) => o.type === T.nodePool)!;
      assert.deepEqual(pool.dependsOn, ["gke-nodes-container.defaultNodeServiceAccount"]);
    });

    it("keeps the account id within Google's 6-30 characters for any cluster name", () => {
      for (const cluster of ["a", "flux-restful", "x".repeat(32), "flux-restful-a-very-long-9f3c2a"]) {
        const id = nodeServiceAccountId(cluster);
        assert.match(id, /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, id);
      }
      assert.notEqual(nodeServiceAccountId("x".repeat(31) + "a"), nodeServiceAccountId("x".repeat(31) + "b"));
    });
  });
});
