/**
 * What the program reads from outside before it declares any resource: the sidecar bundle, on the
 * local stack the kubeconfig, and the operator manifest (downloaded, then checked against its pinned
 * sha256). A problem with one is the user's to fix: a ConfigError when a setting must change, else a
 * SourceError; both are shown as their message alone.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FLUX_OPERATOR, OperatorRelease, isPinnedManifestUrl } from "../components/flux-operator.build";
import { kubeconfigContexts, kubeconfigPaths, singleContextKubeconfig } from "../components/local-cluster.build";
import { ConfigError, PROJECT } from "./config";

export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceError";
  }
}

export const DEFAULT_BUNDLE_PATH = path.join(__dirname, "..", "dist", "sidecar.js");

export class BundleMissingError extends SourceError {
  constructor(file: string) {
    super(`The sidecar bundle ${file} is missing: run \`npm run build\` first`);
    this.name = "BundleMissingError";
  }
}

export function readSidecarBundle(file: string = DEFAULT_BUNDLE_PATH): string {
  if (!fs.existsSync(file)) throw new BundleMissingError(file);
  return fs.readFileSync(file, "utf8");
}

/** The cluster the local stack deploys to: one pinned context, whatever kubectl's current context is. */
export interface LocalTarget {
  context: string;
  /** The context's cluster entry: the provider's clusterIdentifier. */
  cluster: string;
  /** The kubeconfig cut down to that context. */
  kubeconfig: string;
}

const KUBE_CONTEXT = `${PROJECT}:kubeContext`;

export function readLocalKubeconfig(kubeContext: string | undefined, env: NodeJS.ProcessEnv = process.env, home = os.homedir()): LocalTarget {
  const file = kubeconfigPaths(env, home).find((p) => fs.existsSync(p));
  if (!file) throw new SourceError("No kubeconfig found (KUBECONFIG or ~/.kube/config): create a cluster first, e.g. `kind create cluster`");
  const text = fs.readFileSync(file, "utf8");
  let found;
  try {
    found = kubeconfigContexts(text);
  } catch (err) {
    throw new SourceError(`${file} is not a valid kubeconfig: ${(err as Error).message.split("\n")[0]}`);
  }
  const names = found.contexts.map((c) => c.name);
  if (!kubeContext) {
    throw new ConfigError(KUBE_CONTEXT,
      "is required on the local stack: it pins the cluster, so switching kubectl's current context never moves the stack",
      found.current
        ? `Set it with: pulumi config set ${KUBE_CONTEXT} ${found.current} (your current context)`
        : `Set it with: pulumi config set ${KUBE_CONTEXT} <context> (contexts in ${file}: ${names.join(", ") || "none"})`);
  }
  const context = found.contexts.find((c) => c.name === kubeContext);
  if (!context) {
    throw new ConfigError(KUBE_CONTEXT, `names context "${kubeContext}", which ${file} does not have (contexts: ${names.join(", ") || "none"})`,
      `Point KUBECONFIG at the file that has it, or set ${KUBE_CONTEXT} to one of those contexts`);
  }
  if (!context.cluster || !found.clusters.includes(context.cluster)) {
    throw new SourceError(`Context "${kubeContext}" in ${file} names cluster "${context.cluster ?? ""}", which the file does not define`);
  }
  return { context: kubeContext, cluster: context.cluster, kubeconfig: singleContextKubeconfig(text, kubeContext) };
}

/** The part of fetch the download uses; tests pass their own. */
export type Fetch = (url: string, init: { signal: AbortSignal }) =>
  Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }>;

/** "fetch failed" alone does not say what failed: add the cause (DNS, refused, TLS). */
function reason(err: unknown): string {
  const { message, cause } = err as { message?: string; cause?: { message?: string } };
  return cause?.message ? `${message} (${cause.message})` : String(message ?? err);
}

/** Downloads the pinned manifest and checks its bytes before the program declares anything. */
export async function fetchOperatorManifest(release: OperatorRelease = FLUX_OPERATOR, fetchImpl: Fetch = fetch, timeoutMs = 60_000): Promise<string> {
  const what = `the Flux Operator ${release.version} manifest ${release.manifestUrl}`;
  if (!isPinnedManifestUrl(release.manifestUrl)) throw new SourceError(`Refusing ${what}: not a release asset or a file at a commit`);
  let bytes: Buffer;
  try {
    const response = await fetchImpl(release.manifestUrl, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    bytes = Buffer.from(await response.arrayBuffer());
  } catch (err) {
    throw new SourceError(`Could not download ${what}: ${reason(err)}. The machine running pulumi must reach ${new URL(release.manifestUrl).host}`);
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== release.manifestSha256) {
    throw new SourceError(`Refusing ${what}: its sha256 is ${sha256}, not the pinned ${release.manifestSha256}`);
  }
  return bytes.toString("utf8");
}
