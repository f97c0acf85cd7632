/** Pure builders for the GKE side: the kubeconfig, the node tag, the nodes' service account and the NodePort firewall rule. */
import { stringify } from "yaml";
import { fitName } from "./names.build";

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

/**
 * The one role Google documents as the minimum for a node service account
 * (https://docs.cloud.google.com/kubernetes-engine/security/configure-node-service-accounts): it holds
 * the permissions of logging.logWriter, monitoring.metricWriter, monitoring.viewer,
 * stackdriver.resourceMetadata.writer and autoscaling.metricsWriter (nodes send logs and metrics and
 * feed the Horizontal Pod Autoscaler). No Artifact Registry reader: every image comes from a public
 * registry (Docker Hub, ghcr.io), pulled without the node's identity.
 */
export const NODE_SERVICE_ACCOUNT_ROLES = ["roles/container.defaultNodeServiceAccount"] as const;

/** The nodes' own service account id (6-30 characters), derived from the cluster name, so unique per stack. */
export function nodeServiceAccountId(clusterName: string): string {
  return fitName(`${clusterName}-nodes`, 30);
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

