/** What the program reads before declaring anything: the local kubeconfig (and its one-line errors). */
import { strict as assert } from "node:assert";
import { ConfigError } from "../../infra/config";
import { SourceError, readLocalKubeconfig } from "../../infra/sources";
import { tempFile } from "./harness";
import { TWO_CONTEXT_KUBECONFIG } from "./fixtures";

describe("infra sources: the local kubeconfig", () => {
  const env = (text: string, name = "kubeconfig-sources") => ({ KUBECONFIG: tempFile(name, text) });

  it("reads the pinned context, whatever the current one is, and names its cluster", () => {
    const target = readLocalKubeconfig("prod", env(TWO_CONTEXT_KUBECONFIG));
    assert.equal(target.context, "prod");
    assert.equal(target.cluster, "prod");
    assert.match(target.kubeconfig, /current-context: prod/);
    assert.ok(!target.kubeconfig.includes("dev-token"));
  });

  it("requires the context to be pinned, and says which one is current", () => {
    assert.throws(() => readLocalKubeconfig(undefined, env(TWO_CONTEXT_KUBECONFIG)), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.key, "flux-restful:kubeContext");
      assert.match(err.message, /is required on the local stack.*Set it with: pulumi config set flux-restful:kubeContext kind-dev \(your current context\)$/);
      return true;
    });
  });

  it("names the contexts the file has when the pinned one is not among them", () => {
    assert.throws(() => readLocalKubeconfig("kind-old", env(TWO_CONTEXT_KUBECONFIG)), (err: unknown) =>
      err instanceof ConfigError && err.key === "flux-restful:kubeContext" &&
      /names context "kind-old", which .*kubeconfig-sources does not have \(contexts: kind-dev, prod\)/.test(err.message));
  });

  it("says so in one line when there is no kubeconfig, or it is not one", () => {
    assert.throws(() => readLocalKubeconfig("kind-dev", { KUBECONFIG: "/nonexistent/kubeconfig" }, "/nonexistent-home"),
      (err: unknown) => err instanceof SourceError && /^No kubeconfig found \(KUBECONFIG or ~\/\.kube\/config\)/.test(err.message));
    assert.throws(() => readLocalKubeconfig("kind-dev", env("contexts: [unclosed", "kubeconfig-broken")),
      (err: unknown) => err instanceof SourceError && /kubeconfig-broken is not a valid kubeconfig: [^\n]+$/.test(err.message));
    const dangling = TWO_CONTEXT_KUBECONFIG.replace("context: { cluster: prod, user: prod-admin }", "context: { cluster: gone, user: prod-admin }");
    assert.throws(() => readLocalKubeconfig("prod", env(dangling, "kubeconfig-dangling")),
      (err: unknown) => err instanceof SourceError && /Context "prod" in .* names cluster "gone", which the file does not define/.test(err.message));
  });
});
