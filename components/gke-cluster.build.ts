/** Pure builders for the GKE side: the kubeconfig, the node tag and the NodePort firewall rule. */
import { stringify } from "yaml";

/**
 * The Kubernetes provider's `clusterIdentifier`: GKE's own name for the cluster, known from config
 * before anything exists. While it stays the same the provider is updated in place, whatever else
 * changes in the kubeconfig (a rotated control plane IP or CA), so no object is replaced.
 */
export function gkeClusterIdentifier(project: string, zone: string, clusterName: string): string {
  return `projects/${project}/locations/${zone}/clusters/${clusterName}`;
}

/** The network tag on every node of our pool: the firewall rule targets it and nothing else. */
export function nodeTagFor(clusterName: string): string {
  return `${clusterName}-nodes`;
}

export interface GkeKubeconfigInput {
  clusterName: string;
  endpoint: string;
  caCertificate: string;
}

/**
 * A kubeconfig that authenticates through gke-gcloud-auth-plugin, so no short-lived token is
 * stored in the Pulumi state (a stored token would break a later `pulumi destroy`).
 */
export function buildGkeKubeconfig({ clusterName, endpoint, caCertificate }: GkeKubeconfigInput): string {
  const context = clusterName;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: context, cluster: { server: `https://${endpoint}`, "certificate-authority-data": caCertificate } }],
    contexts: [{ name: context, context: { cluster: context, user: context } }],
    "current-context": context,
    users: [{
      name: context,
      user: {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1beta1",
          command: "gke-gcloud-auth-plugin",
          installHint: "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
          provideClusterInfo: true,
          interactiveMode: "IfAvailable",
        },
      },
    }],
  });
}

export interface NodePortFirewallInput<N> {
  /** The cluster's VPC network (a plain name, or a Pulumi output of it). */
  network: N;
  nodeTag: string;
  nodePort: number;
  sourceRanges: string[];
}

/** Arguments for gcp.compute.Firewall: one TCP port, only to our tagged nodes, only from the given ranges. */
export function buildNodePortFirewallArgs<N>({ network, nodeTag, nodePort, sourceRanges }: NodePortFirewallInput<N>) {
  return {
    network,
    direction: "INGRESS",
    description: `flux-restful API NodePort ${nodePort}`,
    allows: [{ protocol: "tcp", ports: [String(nodePort)] }],
    sourceRanges,
    targetTags: [nodeTag],
  };
}

