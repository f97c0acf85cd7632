import * as fs from "node:fs";
import * as os from "node:os";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { kubeconfigPaths, singleContextKubeconfig } from "./local-cluster.build";

export interface LocalClusterArgs {
  /** A context of the current kubeconfig; its current context when unset. */
  kubeContext?: string;
}

/** An existing cluster (kind, minikube, any) reached through the caller's kubeconfig. */
export class LocalCluster extends pulumi.ComponentResource {
  readonly provider: k8s.Provider;
  readonly kubeconfig: pulumi.Output<string>;
  readonly contextName: string;

  constructor(name: string, args: LocalClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:LocalCluster", name, {}, opts);
    const path = kubeconfigPaths(process.env, os.homedir()).find((p) => fs.existsSync(p));
    if (!path) throw new Error("No kubeconfig found (KUBECONFIG or ~/.kube/config): create a cluster first, e.g. `kind create cluster`");
    const { kubeconfig, context } = singleContextKubeconfig(fs.readFileSync(path, "utf8"), args.kubeContext);
    this.contextName = context;
    this.kubeconfig = pulumi.secret(kubeconfig);
    this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig }, { parent: this });
    this.registerOutputs({});
  }
}
