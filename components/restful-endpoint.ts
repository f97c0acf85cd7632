import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { AlbOptions, buildAlbIngress, buildService } from "./restful-endpoint.build";

export interface RestfulEndpointArgs {
  provider: k8s.Provider;
  /** The Namespace resource's name (FluxMiniCluster.namespaceName), so a replaced namespace replaces these too. */
  namespace: pulumi.Input<string>;
  miniClusterName: string;
  /** Pin the NodePort (GKE and local: the firewall and the endpoint use it); EKS lets Kubernetes pick. */
  nodePort?: number;
  /** EKS: an internet-facing ALB in front of the Service. */
  alb?: AlbOptions<pulumi.Input<string>>;
  /**
   * The MiniCluster, and on EKS the load balancer controller (its webhook admits every Service and
   * Ingress; being a dependency also makes destroy delete the Ingress while the controller still runs,
   * so it removes the ALB, its target groups and security groups).
   */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** The NodePort Service in front of the lead broker's sidecar, and on EKS the ALB Ingress. */
export class RestfulEndpoint extends pulumi.ComponentResource {
  readonly service: k8s.core.v1.Service;
  readonly ingress?: k8s.networking.v1.Ingress;
  /** The ALB's DNS name, known once the controller has provisioned it (the Ingress await waits for it). */
  readonly albHostname?: pulumi.Output<string>;

  constructor(name: string, args: RestfulEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:RestfulEndpoint", name, {}, opts);
    // Fixed names: a replacement deletes the old object first rather than collide with it.
    const k8sOpts = { parent: this, provider: args.provider, deleteBeforeReplace: true };
    // The Service is awaited until the lead broker's pod is ready: image pulls and the copy of the Flux
    // view come first, so allow more than the default 10 minutes.
    this.service = new k8s.core.v1.Service(`${name}-service`,
      buildService(args.namespace, args.miniClusterName, args.nodePort),
      { ...k8sOpts, dependsOn: args.dependsOn, customTimeouts: { create: "20m" } });
    if (args.alb) {
      this.ingress = new k8s.networking.v1.Ingress(`${name}-ingress`, buildAlbIngress(args.namespace, args.alb), {
        ...k8sOpts,
        dependsOn: [...args.dependsOn, this.service],
        customTimeouts: { create: "20m", delete: "20m" },
      });
      this.albHostname = this.ingress.status.loadBalancer.ingress.apply((entries) => {
        const hostname = entries?.[0]?.hostname;
        if (!hostname) throw new Error("The ALB Ingress has no hostname yet: see the README's troubleshooting for the load balancer controller");
        return hostname;
      });
    }
    this.registerOutputs({ service: this.service.metadata.name });
  }
}
