import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { FLUX_OPERATOR, KubernetesObject, OperatorRelease } from "./flux-operator.build";

export interface FluxOperatorArgs {
  provider: k8s.Provider;
  /** The release manifest's objects, checked and patched (operatorObjects) before anything is declared. */
  objects: KubernetesObject[];
  release?: OperatorRelease;
  /** On EKS: the load balancer controller, whose webhook must answer before any Service is created. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Makes a resource's replacement delete the old object first. Given to the ConfigGroup as a transform,
 * the engine applies it to every object the group creates: the operator's fixed names (its namespace,
 * CRD, roles) would otherwise collide with themselves on a replacement.
 */
export const replaceDeleteFirst: pulumi.ResourceTransform = (args) => ({ props: args.props, opts: { ...args.opts, deleteBeforeReplace: true } });

/**
 * The Flux Operator from its pinned release manifest, patched (see flux-operator.build.ts).
 * Depending on this component waits for every object, each awaited by the Kubernetes provider:
 * the CRD established and the operator Deployment available.
 */
export class FluxOperator extends pulumi.ComponentResource {
  readonly release: OperatorRelease;
  readonly objects: k8s.yaml.v2.ConfigGroup;

  constructor(name: string, args: FluxOperatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:FluxOperator", name, {}, opts);
    const release = args.release ?? FLUX_OPERATOR;
    this.release = release;
    this.objects = new k8s.yaml.v2.ConfigGroup(`${name}-objects`, { objs: args.objects },
      { parent: this, provider: args.provider, dependsOn: args.dependsOn, transforms: [replaceDeleteFirst] });
    this.registerOutputs({ version: release.version, manifestUrl: release.manifestUrl });
  }
}
