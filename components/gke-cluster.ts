import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import {
  NODE_SERVICE_ACCOUNT_ROLES, buildGkeKubeconfig, buildNodePortFirewallArgs, gkeClusterIdentifier, nodeServiceAccountId, nodeTagFor,
} from "./gke-cluster.build";
import { MUTABLE_DATA } from "./k8s-provider.build";

export interface GkeClusterArgs {
  /** The project the default gcp provider deploys to (gcp:project); part of the cluster's identity. */
  project: string;
  clusterName: string;
  /** A zone, not a region: on a regional cluster the node count is per zone. */
  zone: string;
  nodeCount: number;
  machineType: string;
  releaseChannel: string;
  /** The NodePort to open on the nodes, and who may reach it. */
  nodePort: number;
  allowedCidrs: string[];
  /** Turn on the Filestore CSI driver: its storage classes (standard-rwx, ...) back ReadWriteMany claims. */
  filestoreCsiDriver?: boolean;
  /** The stack's labels, on the cluster and the nodes' VMs and disks (the provider adds them elsewhere). */
  labels: Record<string, string>;
}

/**
 * A zonal GKE cluster with Dataplane V2 (NetworkPolicy enforced), one tagged node pool, a firewall
 * rule for the API's NodePort aimed at that tag, a plugin-based kubeconfig and a Kubernetes provider.
 */
export class GkeCluster extends pulumi.ComponentResource {
  readonly cluster: gcp.container.Cluster;
  readonly nodePool: gcp.container.NodePool;
  /** The nodes' identity: a service account of their own with only the roles nodes need. */
  readonly nodeServiceAccount: gcp.serviceaccount.Account;
  readonly firewall: gcp.compute.Firewall;
  readonly kubeconfig: pulumi.Output<string>;
  readonly provider: k8s.Provider;
  /** A node's external IP: with externalTrafficPolicy Cluster, every node answers on the NodePort. */
  readonly nodeExternalIp: pulumi.Output<string>;
  readonly nodeTag: string;

  constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:GkeCluster", name, {}, opts);
    this.nodeTag = nodeTagFor(args.clusterName);

    // The API insists on a default pool at creation; it is removed at once and ours is managed apart,
    // so resizing never replaces the cluster.
    this.cluster = new gcp.container.Cluster(`${name}-cluster`, {
      name: args.clusterName,
      location: args.zone,
      initialNodeCount: 1,
      removeDefaultNodePool: true,
      deletionProtection: false,
      releaseChannel: { channel: args.releaseChannel },
      datapathProvider: "ADVANCED_DATAPATH",
      // An add-on change is an in-place update of the cluster.
      ...(args.filestoreCsiDriver ? { addonsConfig: { gcpFilestoreCsiDriverConfig: { enabled: true } } } : {}),
      resourceLabels: args.labels,
    }, { parent: this });

    // Not the Compute Engine default account (Editor on the whole project): the nodes' own, with the
    // least privilege Google documents; the cloud-platform scope then leaves access to IAM alone.
    this.nodeServiceAccount = new gcp.serviceaccount.Account(`${name}-nodes`, {
      project: args.project,
      accountId: nodeServiceAccountId(args.clusterName),
      displayName: `GKE nodes of ${args.clusterName}`,
    }, { parent: this });
    const grants = NODE_SERVICE_ACCOUNT_ROLES.map((role) => new gcp.projects.IAMMember(`${name}-nodes-${role.split("/")[1]}`, {
      project: args.project,
      role,
      member: this.nodeServiceAccount.member,
    }, { parent: this }));

    this.nodePool = new gcp.container.NodePool(`${name}-nodes`, {
      cluster: this.cluster.name,
      location: this.cluster.location,
      nodeCount: args.nodeCount,
      nodeConfig: {
        machineType: args.machineType,
        tags: [this.nodeTag],
        serviceAccount: this.nodeServiceAccount.email,
        resourceLabels: args.labels,
        oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
      },
      management: { autoRepair: true, autoUpgrade: true },
    }, { parent: this, dependsOn: grants });

    this.firewall = new gcp.compute.Firewall(`${name}-nodeport`, buildNodePortFirewallArgs({
      network: this.cluster.network.apply((n) => n ?? "default"), nodeTag: this.nodeTag, nodePort: args.nodePort, sourceRanges: args.allowedCidrs,
    }), { parent: this });

    this.kubeconfig = pulumi.secret(pulumi
      .all([this.cluster.name, this.cluster.endpoint, this.cluster.masterAuth])
      .apply(([clusterName, endpoint, auth]) => buildGkeKubeconfig({ clusterName, endpoint, caCertificate: auth.clusterCaCertificate ?? "" })));

    // No deleteUnreachable: an auth or discovery failure must fail the operation, not empty the state
    // (the README says when to use PULUMI_K8S_DELETE_UNREACHABLE instead).
    this.provider = new k8s.Provider(`${name}-k8s`, {
      kubeconfig: this.kubeconfig,
      clusterIdentifier: gkeClusterIdentifier(args.project, args.zone, args.clusterName),
      ...MUTABLE_DATA,
    }, { parent: this, dependsOn: [this.nodePool] });

    // Instance group -> first instance -> its external NAT IP, all read through the Compute API.
    const group = gcp.compute.getInstanceGroupOutput({ selfLink: this.nodePool.managedInstanceGroupUrls[0] }, { parent: this });
    const instance = gcp.compute.getInstanceOutput({ selfLink: group.instances[0] }, { parent: this });
    this.nodeExternalIp = instance.networkInterfaces.apply((nics) => {
      const ip = nics?.[0]?.accessConfigs?.[0]?.natIp;
      if (!ip) throw new Error("The GKE node has no external IP: the node pool must not use private nodes for the NodePort endpoint");
      return ip;
    });
    this.registerOutputs({ clusterName: this.cluster.name, nodeExternalIp: this.nodeExternalIp });
  }
}
