/**
 * Two stacks side by side: every physical name the program gives (cluster, namespace, Kubernetes
 * objects, NodePorts, the operator's cluster-wide objects, accounts) must differ between two stacks of
 * the project in one cloud project or account, or on one cluster. Resources the program leaves unnamed
 * get a name with a random suffix from Pulumi (autonaming), so they cannot collide.
 */
import { strict as assert } from "node:assert";
import type { DeclaredResource } from "../../infra/mocks";
import { Evaluation, evaluate, tempFile } from "./harness";
import { TWO_CONTEXT_KUBECONFIG } from "./fixtures";

interface Named { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }

/** The cluster a stack's Kubernetes objects land in: its Kubernetes provider's clusterIdentifier. */
function clusterOf(ev: Evaluation): string {
  const providers = ev.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
  assert.equal(providers.length, 1);
  return providers[0].inputs.clusterIdentifier;
}

/** Every name that must be unique where the resource lives, scoped by where that is. */
function physicalNames(ev: Evaluation): string[] {
  const cluster = clusterOf(ev);
  const names: string[] = [];
  const object = (o: Named) => {
    const namespace = o.metadata?.namespace ?? "";
    names.push(`cluster ${cluster}: ${o.apiVersion?.split("/")[0]} ${o.kind} ${namespace}/${o.metadata?.name}`);
  };
  for (const r of ev.resources as DeclaredResource[]) {
    if (r.type === "kubernetes:yaml/v2:ConfigGroup") (r.inputs.objs as Named[]).forEach(object);
    else if (r.type === "kubernetes:helm.sh/v3:Release") names.push(`cluster ${cluster}: helm release ${r.inputs.namespace}/${r.inputs.name}`);
    else if (r.type.startsWith("kubernetes:") && r.inputs.metadata) {
      object(r.inputs as Named);
      for (const port of r.inputs.spec?.ports ?? []) if (port.nodePort) names.push(`cluster ${cluster}: NodePort ${port.nodePort}`);
    } else if (r.type === "gcp:serviceaccount/account:Account") names.push(`gcp project: service account ${r.inputs.accountId}`);
    else if (/^(gcp|aws|eks):/.test(r.type) && typeof r.inputs.name === "string") names.push(`${r.type.split(":")[0]} account: ${r.type} ${r.inputs.name}`);
  }
  return names;
}

function collisions(a: Evaluation, b: Evaluation): string[] {
  const first = new Set(physicalNames(a));
  return physicalNames(b).filter((n) => first.has(n));
}

async function onKind<T>(body: () => Promise<T>): Promise<T> {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = tempFile("kubeconfig-names", TWO_CONTEXT_KUBECONFIG);
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
}

describe("two stacks of the project side by side (mocked)", function () {
  this.timeout(60_000);
  const kind = { "flux-restful:kubeContext": "kind-dev" };

  it("two gke stacks in one Google Cloud project share no physical name", async () => {
    const a = await evaluate("team-a", {}, {}, { stackFile: "gke" });
    const b = await evaluate("team-b", {}, {}, { stackFile: "gke" });
    assert.ok(physicalNames(a).some((n) => n.includes("flux-restful-team-a")), physicalNames(a).join("\n"));
    assert.deepEqual(collisions(a, b), []);
  });

  it("two eks stacks in one AWS account and region share no physical name", async () => {
    const a = await evaluate("team-a", {}, {}, { stackFile: "eks" });
    const b = await evaluate("team-b", {}, {}, { stackFile: "eks" });
    assert.deepEqual(collisions(a, b), []);
  });

  it("two local stacks on one cluster collide only on the cluster-wide operator, which the second leaves to the first", async () => {
    const a = await onKind(() => evaluate("dev-a", kind, {}, { stackFile: "local" }));
    const both = await onKind(() => evaluate("dev-b", kind, {}, { stackFile: "local" }));
    assert.equal(clusterOf(a), clusterOf(both), "the same cluster");
    const shared = collisions(a, both);
    assert.ok(shared.length > 0 && shared.every((n) => /operator-system|CustomResourceDefinition|ClusterRole/.test(n)), shared.join("\n"));
    const second = await onKind(() => evaluate("dev-b", { ...kind, "flux-restful:installOperator": "false" }, {}, { stackFile: "local" }));
    assert.deepEqual(collisions(a, second), []);
    assert.ok(!second.resources.some((r) => r.type === "kubernetes:yaml/v2:ConfigGroup"), "the second stack declares no operator");
  });

  it("two local stacks reached at node addresses collide on the NodePort until one sets its own", async () => {
    const at = { ...kind, "flux-restful:nodeAddress": "172.18.0.2" };
    const a = await onKind(() => evaluate("dev-a", at, {}, { stackFile: "local" }));
    const b = await onKind(() => evaluate("dev-b", { ...at, "flux-restful:installOperator": "false" }, {}, { stackFile: "local" }));
    assert.deepEqual(collisions(a, b), [`cluster ${clusterOf(a)}: NodePort 30093`]);
    const c = await onKind(() => evaluate("dev-b", { ...at, "flux-restful:installOperator": "false", "flux-restful:nodePort": "30094" }, {}, { stackFile: "local" }));
    assert.deepEqual(collisions(a, c), []);
  });
});
