/** Pulumi and cloud conventions on the rendered stacks: the GKE nodes' own least-privilege identity. */
import { strict as assert } from "node:assert";
import { NODE_SERVICE_ACCOUNT_ROLES, nodeServiceAccountId } from "../../components/gke-cluster.build";
import { Evaluation, evaluate, ofType, one } from "./harness";

const T = {
  account: "gcp:serviceaccount/account:Account",
  member: "gcp:projects/iAMMember:IAMMember",
  nodePool: "gcp:container/nodePool:NodePool",
};

describe("cloud conventions (mocked)", function () {
  this.timeout(60_000);

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
