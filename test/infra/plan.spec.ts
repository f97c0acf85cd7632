/** `npm run plan`: the offline listing, its JSON form and the Kubernetes YAML. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { Plan, planAsJson, planAsKubernetes, planAsText, planStack } from "../../scripts/plan";
import { BUNDLE_PATH } from "./harness";
import { FAKE_BUNDLE, OPERATOR_MANIFEST } from "./fixtures";
import { FLUX_OPERATOR } from "../../components/flux-operator.build";
import { buildLbControllerPolicy } from "../../components/lb-controller.build";
import { isSecretValue } from "../../infra/mocks";

const GENERATED = /offline-flux-(token|secret-key)/;

describe("infra plan script", function () {
  this.timeout(60_000);
  let gke: Plan;
  let eks: Plan;
  before(async () => {
    gke = await planStack("gke", { bundlePath: BUNDLE_PATH, operatorManifest: OPERATOR_MANIFEST });
    eks = await planStack("eks", { bundlePath: BUNDLE_PATH, operatorManifest: OPERATOR_MANIFEST });
  });

  it("says which required value it stood in for", () => {
    assert.deepEqual(gke.notes, ['gcp:project is not set in Pulumi.gke.yaml; planning with "my-gcp-project"']);
    assert.deepEqual(eks.notes, []);
  });

  it("prints every resource as {type, name, inputs} JSON with secrets masked", () => {
    const json = planAsJson(eks);
    const list = JSON.parse(json) as { type: string; name: string; inputs: Record<string, unknown> }[];
    assert.equal(list.length, eks.resources.length);
    assert.ok(list.every((r) => typeof r.type === "string" && typeof r.name === "string" && typeof r.inputs === "object"));
    const secret = list.find((r) => r.type === "kubernetes:core/v1:Secret")!;
    assert.equal(secret.inputs.stringData, "[secret]");
    assert.doesNotMatch(json, GENERATED);
    assert.ok(list.some((r) => r.type === "kubernetes:helm.sh/v3:Release"));
  });

  it("gives every input whole in JSON: the load balancer controller's IAM policy parses to the built document", () => {
    const list = JSON.parse(planAsJson(eks)) as { type: string; name: string; inputs: Record<string, any> }[];
    const policy = list.find((r) => r.type === "aws:iam/policy:Policy" && r.name === "lb-controller-policy")!;
    assert.ok(policy.inputs.policy.length > 500, "long enough that the text listing abbreviates it");
    assert.deepEqual(JSON.parse(policy.inputs.policy), buildLbControllerPolicy());
    const leaves = (v: unknown): unknown[] =>
      Array.isArray(v) ? v.flatMap(leaves) : typeof v === "object" && v !== null ? Object.values(v).flatMap(leaves) : [v];
    assert.deepEqual(leaves(list).filter((v) => typeof v === "string" && /^<\d+ characters>$/.test(v)), []);
    assert.match(planAsText(eks), /policy = "<\d+ characters>"/, "only the text listing shortens");
  });

  it("writes the whole JSON through a pipe, past the 64 KiB a pipe takes at once", () => {
    const root = path.join(__dirname, "..", "..");
    // Through the tsx CLI, as `npm run plan` runs it (its child's stdout is a pipe that an early exit cuts).
    const run = spawnSync(path.join(root, "node_modules", ".bin", "tsx"), [path.join(root, "scripts", "plan.ts"), "--stack", "eks", "--json"], {
      cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NODE_OPTIONS: "" },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stdout.length > 64 * 1024, `${run.stdout.length} bytes`);
    const list = JSON.parse(run.stdout) as { type: string; inputs: Record<string, any> }[];
    assert.ok(JSON.parse(list.find((r) => r.type === "aws:iam/policy:Policy")!.inputs.policy).Statement.length > 10);
  });

  it("masks exactly the secret inputs in JSON, and nothing else", () => {
    const list = JSON.parse(planAsJson(eks)) as { inputs: Record<string, unknown> }[];
    let secrets = 0;
    const check = (raw: unknown, shown: unknown, where: string): void => {
      if (isSecretValue(raw)) {
        secrets++;
        assert.equal(shown, "[secret]", where);
      } else if (Array.isArray(raw)) {
        raw.forEach((v, i) => check(v, (shown as unknown[])[i], `${where}[${i}]`));
      } else if (typeof raw === "object" && raw !== null && !("__pulumiType" in raw)) {
        for (const [k, v] of Object.entries(raw)) check(v, (shown as Record<string, unknown>)[k], `${where}.${k}`);
      } else if (typeof raw !== "object") {
        assert.equal(shown, raw, where);
      }
    };
    eks.resources.forEach((r, i) => check(r.inputs, list[i].inputs, `${r.type} ${r.name}`));
    assert.ok(secrets >= 3, `found ${secrets} secret inputs`);
  });

  it("lists resources and outputs as text, secrets masked", () => {
    const text = planAsText(gke);
    assert.match(text, /^\+ gcp:compute\/firewall:Firewall {2}gke-nodeport$/m);
    assert.match(text, /allows\[0\]\.ports = \["30093"\]/);
    assert.match(text, /token = "\[secret\]"/);
    assert.match(text, /endpoint = \{"scheme":"https","host":"198\.51\.100\.7","port":30093\}/);
    assert.doesNotMatch(text, GENERATED);
    assert.doesNotMatch(text, /BEGIN PRIVATE KEY/, "generated TLS keys are masked");
  });

  it("writes the Kubernetes objects as YAML documents with placeholder secrets", () => {
    const yaml = planAsKubernetes(eks);
    const docs = parseAllDocuments(yaml).map((d) => d.toJS()).filter(Boolean);
    assert.deepEqual(docs.map((d) => d.kind), ["Namespace", "ConfigMap", "Secret", "MiniCluster", "Service", "Ingress"]);
    const secret = docs.find((d) => d.kind === "Secret");
    assert.deepEqual(secret.stringData, { user: "REPLACE_ME_USER", token: "REPLACE_ME_TOKEN", "secret-key": "REPLACE_ME_SECRET_KEY" });
    assert.equal(docs.find((d) => d.kind === "ConfigMap").data["sidecar.js"], FAKE_BUNDLE);
    assert.match(yaml, /^# Helm chart aws-load-balancer-controller 3\.5\.0 from https:\/\/aws\.github\.io\/eks-charts/m);
    assert.ok(yaml.startsWith(`---\n# Flux Operator 0.2.1: apply ${FLUX_OPERATOR.manifestUrl}\n# (sha256 ${FLUX_OPERATOR.manifestSha256})\n`));
    assert.doesNotMatch(yaml, GENERATED);
  });

  it("shows the workspace objects: a claim made from a storage class, mounted by the MiniCluster (config from --config)", async () => {
    const rwx = await planStack("gke", { bundlePath: BUNDLE_PATH, operatorManifest: OPERATOR_MANIFEST, config: { "flux-restful:workspaceStorageClass": "standard-rwx" } });
    const docs = parseAllDocuments(planAsKubernetes(rwx)).map((d) => d.toJS()).filter(Boolean);
    const claim = docs.find((d) => d.kind === "PersistentVolumeClaim");
    assert.deepEqual(claim.spec, { accessModes: ["ReadWriteMany"], storageClassName: "standard-rwx", resources: { requests: { storage: "1Ti" } } });
    const [broker, sidecar] = docs.find((d) => d.kind === "MiniCluster").spec.containers;
    assert.deepEqual(broker.volumes.workspace, { claimName: claim.metadata.name, path: "/workspace" });
    assert.equal(sidecar.environment.FLUX_WORKSPACE, "/workspace");
    assert.match(planAsText(rwx), /^\+ kubernetes:core\/v1:PersistentVolumeClaim {2}flux-workspace$/m);
    const byDefault = parseAllDocuments(planAsKubernetes(gke)).map((d) => d.toJS()).filter(Boolean);
    assert.ok(!byDefault.some((d) => d.kind === "PersistentVolumeClaim"));
    assert.equal(byDefault.find((d) => d.kind === "MiniCluster").spec.containers[1].environment.FLUX_WORKSPACE, "/mnt/flux/workspace");
  });

  it("plans the local stack without a kubeconfig against a placeholder context, then restores KUBECONFIG", async () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = "/nonexistent/kubeconfig";
    try {
      const local = await planStack("local", { bundlePath: BUNDLE_PATH, operatorManifest: OPERATOR_MANIFEST });
      assert.deepEqual(local.notes, [
        'no kubeconfig found; planning against a placeholder context "offline"',
        'flux-restful:kubeContext is not set in Pulumi.local.yaml; planning with the current context "offline"',
      ]);
      assert.equal(local.outputs.clusterName, "offline");
      assert.equal(process.env.KUBECONFIG, "/nonexistent/kubeconfig");
      assert.ok(!local.resources.some((r) => /^(gcp|aws|eks):/.test(r.type)));
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
});
