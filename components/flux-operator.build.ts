/**
 * The pinned Flux Operator release and the one patch its manifest needs. Pure data and functions.
 *
 * Why 0.2.1 (the latest release) and not main: every manifest on main runs the floating `:latest`
 * image with `imagePullPolicy: Always`. We take the release's manifest as committed at the release
 * commit (the tag `0.2.1`), whose exact bytes are known, so the program checks them against a
 * pinned sha256 before applying anything; the release asset is rebuilt by CI and its bytes could not
 * be checked here. That file names `:latest` too, so our patch pins the manager to the release's own
 * image (`v0.2.1`, what the asset names) and `IfNotPresent`. The one defect of 0.2.1 is its
 * `kube-rbac-proxy` sidecar: that image was deleted from gcr.io, so the Deployment would never
 * become ready. We drop that container (upstream removed it too, after 0.2.1) and keep the manager.
 * The program downloads the manifest itself and applies the patched objects, so the patch is plain
 * code that runs (and is tested) without a cluster.
 */
import { parseAllDocuments } from "yaml";

export interface OperatorRelease {
  /** The release tag, as GitHub names it (no leading "v"). */
  version: string;
  /** The release's manifest at its commit: immutable, unlike a file on a branch. */
  manifestUrl: string;
  /** sha256 of the manifest's bytes, checked before any resource is declared. */
  manifestSha256: string;
  /** The operator image the release was built for, pinned by our patch. */
  managerImage: string;
  namespace: string;
  deploymentName: string;
  crdName: string;
  /** Where this version's lead broker binds its local socket (the path moved after 0.2.1). */
  brokerUri: string;
  /** The Flux "view" (init container) image and a broker image of the same OS. */
  viewImage: string;
  brokerImage: string;
}

export const FLUX_OPERATOR: OperatorRelease = {
  version: "0.2.1",
  // examples/dist/flux-operator.yaml at a7fce05, the commit the tag 0.2.1 names ("release: 0.2.1", #233).
  manifestUrl: "https://raw.githubusercontent.com/flux-framework/flux-operator/a7fce054906d3f994d7cba7f9f013536dce44dea/examples/dist/flux-operator.yaml",
  manifestSha256: "348ec441e7e563b2ce8cee69f307baf067899604a3714d8e7dc54d0791ca677d",
  managerImage: "ghcr.io/flux-framework/flux-operator:v0.2.1",
  namespace: "operator-system",
  deploymentName: "operator-controller-manager",
  crdName: "miniclusters.flux-framework.org",
  brokerUri: "local:///mnt/flux/view/run/flux/local",
  viewImage: "ghcr.io/converged-computing/flux-view-rocky:tag-9",
  brokerImage: "rockylinux:9",
};

/** The container whose image no longer exists (see the file comment). */
export const REMOVED_PROXY_CONTAINER = "kube-rbac-proxy";
const MANAGER_CONTAINER = "manager";

interface Container {
  name?: string;
  image?: string;
  imagePullPolicy?: string;
  [key: string]: unknown;
}

export type KubernetesObject = { apiVersion?: string; kind?: string; metadata?: { name?: string }; [key: string]: any };

/**
 * Rewrites one object of the operator manifest: for the operator Deployment, drop the dead proxy
 * container and pin the manager image; anything else is returned unchanged.
 */
export function patchOperatorObject(obj: KubernetesObject, release: OperatorRelease = FLUX_OPERATOR): KubernetesObject {
  if (obj.kind !== "Deployment" || obj.metadata?.name !== release.deploymentName) return obj;
  const containers: Container[] = obj.spec?.template?.spec?.containers ?? [];
  const kept = containers
    .filter((c) => c.name !== REMOVED_PROXY_CONTAINER)
    .map((c) => (c.name === MANAGER_CONTAINER ? { ...c, image: release.managerImage, imagePullPolicy: "IfNotPresent" } : c));
  if (!kept.some((c) => c.name === MANAGER_CONTAINER)) {
    throw new Error(`flux-operator ${release.version} manifest: Deployment ${release.deploymentName} has no "${MANAGER_CONTAINER}" container`);
  }
  return {
    ...obj,
    spec: { ...obj.spec, template: { ...obj.spec.template, spec: { ...obj.spec.template.spec, containers: kept } } },
  };
}

/**
 * The release manifest's objects, patched, after checking it is what we pinned: it must define the
 * MiniCluster CRD and the operator Deployment.
 */
export function operatorObjects(manifestYaml: string, release: OperatorRelease = FLUX_OPERATOR): KubernetesObject[] {
  const objects = parseAllDocuments(manifestYaml).map((doc) => {
    if (doc.errors.length) throw new Error(`flux-operator ${release.version} manifest is not valid YAML: ${doc.errors[0].message}`);
    return doc.toJS() as KubernetesObject | null;
  }).filter((o): o is KubernetesObject => o !== null && typeof o === "object");
  const has = (kind: string, name: string) => objects.some((o) => o.kind === kind && o.metadata?.name === name);
  if (!has("CustomResourceDefinition", release.crdName) || !has("Deployment", release.deploymentName)) {
    throw new Error(`${release.manifestUrl} does not contain the ${release.crdName} CRD and the ${release.deploymentName} Deployment`);
  }
  return objects.map((o) => patchOperatorObject(o, release));
}

/** True when the URL names a release asset or a commit, never a branch such as main. */
export function isPinnedManifestUrl(url: string): boolean {
  const releaseAsset = /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/releases\/download\/v?\d+\.\d+\.\d+\/[\w.-]+\.ya?ml$/;
  const rawAtCommit = /^https:\/\/raw\.githubusercontent\.com\/[\w.-]+\/[\w.-]+\/[0-9a-f]{40}\/[\w./-]+\.ya?ml$/;
  return releaseAsset.test(url) || rawAtCommit.test(url);
}
