/** What the program reads before declaring anything: the operator manifest and the local kubeconfig (and their one-line errors). */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { FLUX_OPERATOR, OperatorRelease } from "../../components/flux-operator.build";
import { ConfigError } from "../../infra/config";
import { Fetch, SourceError, fetchOperatorManifest, readLocalKubeconfig } from "../../infra/sources";
import { tempFile } from "./harness";
import { OPERATOR_MANIFEST, TWO_CONTEXT_KUBECONFIG } from "./fixtures";

/** A release whose pinned checksum is the test manifest's. */
const TEST_RELEASE: OperatorRelease = {
  ...FLUX_OPERATOR,
  manifestSha256: createHash("sha256").update(OPERATOR_MANIFEST).digest("hex"),
};

/** Answers every request with this body, and records the URLs asked for. */
function serving(body: string, status = 200): Fetch & { urls: string[] } {
  const urls: string[] = [];
  const fn = async (url: string, init: { signal: AbortSignal }) => {
    assert.ok(init.signal instanceof AbortSignal, "every download has a timeout");
    urls.push(url);
    return { ok: status < 300, status, arrayBuffer: async () => new TextEncoder().encode(body).buffer as ArrayBuffer };
  };
  return Object.assign(fn, { urls });
}

describe("infra sources: the operator manifest", () => {
  it("downloads the pinned URL and returns the text when its bytes match the pinned sha256", async () => {
    const fetch = serving(OPERATOR_MANIFEST);
    assert.equal(await fetchOperatorManifest(TEST_RELEASE, fetch), OPERATOR_MANIFEST);
    assert.deepEqual(fetch.urls, [FLUX_OPERATOR.manifestUrl]);
  });

  it("refuses other bytes, even the same text with other line ends", async () => {
    for (const body of [OPERATOR_MANIFEST.replace("replicas: 1", "replicas: 2"), OPERATOR_MANIFEST.replace(/\n/g, "\r\n")]) {
      await assert.rejects(fetchOperatorManifest(TEST_RELEASE, serving(body)), (err: unknown) =>
        err instanceof SourceError &&
        err.message === `Refusing the Flux Operator 0.2.1 manifest ${FLUX_OPERATOR.manifestUrl}: its sha256 is ` +
          `${createHash("sha256").update(body).digest("hex")}, not the pinned ${TEST_RELEASE.manifestSha256}`);
    }
  });

  it("says what it could not reach and why: an HTTP status, or the network error's cause", async () => {
    const host = "raw.githubusercontent.com";
    await assert.rejects(fetchOperatorManifest(TEST_RELEASE, serving("Not Found", 404)), (err: unknown) =>
      err instanceof SourceError &&
      err.message === `Could not download the Flux Operator 0.2.1 manifest ${FLUX_OPERATOR.manifestUrl}: HTTP 404. The machine running pulumi must reach ${host}`);
    const offline: Fetch = async () => { throw new TypeError("fetch failed", { cause: new Error(`getaddrinfo ENOTFOUND ${host}`) }); };
    await assert.rejects(fetchOperatorManifest(TEST_RELEASE, offline), (err: unknown) =>
      err instanceof SourceError && err.message.endsWith(`: fetch failed (getaddrinfo ENOTFOUND ${host}). The machine running pulumi must reach ${host}`));
  });

  it("never downloads from a branch", async () => {
    const fetch = serving(OPERATOR_MANIFEST);
    const branch = { ...TEST_RELEASE, manifestUrl: "https://raw.githubusercontent.com/flux-framework/flux-operator/main/examples/dist/flux-operator.yaml" };
    await assert.rejects(fetchOperatorManifest(branch, fetch), /not a release asset or a file at a commit/);
    assert.deepEqual(fetch.urls, []);
  });
});

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
