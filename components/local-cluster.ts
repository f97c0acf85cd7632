import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { MUTABLE_DATA } from "./k8s-provider.build";

export interface LocalClusterArgs {
  /** A kubeconfig holding only the pinned context (see singleContextKubeconfig). */
  kubeconfig: string;
  /** That context's cluster entry: stays the same when the cluster's server or CA changes (a recreated kind cluster). */
  clusterIdentifier: string;
}

/** An existing cluster (kind, minikube, any) reached through one pinned context of the caller's kubeconfig. */
export class LocalCluster extends pulumi.ComponentResource {
  readonly provider: k8s.Provider;
  readonly kubeconfig: pulumi.Output<string>;

  constructor(name: string, args: LocalClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:LocalCluster", name, {}, opts);
    this.kubeconfig = pulumi.secret(args.kubeconfig);
    this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig, clusterIdentifier: args.clusterIdentifier, ...MUTABLE_DATA }, { parent: this });
    this.registerOutputs({});
  }
}
