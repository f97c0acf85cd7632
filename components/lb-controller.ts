import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { LB_CONTROLLER, buildIrsaTrustPolicy, buildLbControllerPolicy, buildLbControllerValues } from "./lb-controller.build";

export interface LbControllerArgs {
  clusterName: string;
  region: string;
  vpcId: pulumi.Input<string>;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
  provider: k8s.Provider;
  /** The node group: the controller's pods need nodes to become ready. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The AWS Load Balancer Controller: its IAM policy, a role only its service account can assume
 * (IRSA), and the pinned Helm release, awaited until the controller (and its webhook) is ready.
 */
export class LbController extends pulumi.ComponentResource {
  readonly policy: aws.iam.Policy;
  readonly role: aws.iam.Role;
  readonly release: k8s.helm.v3.Release;
  /** What Services and Ingresses must depend on: the running controller and the permissions it uses. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: LbControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:LbController", name, {}, opts);
    const parent = { parent: this };
    this.policy = new aws.iam.Policy(`${name}-policy`, {
      description: `AWS Load Balancer Controller ${LB_CONTROLLER.appVersion} for ${args.clusterName}`,
      policy: JSON.stringify(buildLbControllerPolicy()),
    }, parent);
    this.role = new aws.iam.Role(`${name}-role`, {
      assumeRolePolicy: pulumi.all([args.oidcProviderArn, args.oidcIssuer]).apply(([oidcProviderArn, oidcIssuer]) =>
        JSON.stringify(buildIrsaTrustPolicy({
          oidcProviderArn, oidcIssuer, namespace: LB_CONTROLLER.namespace, serviceAccount: LB_CONTROLLER.serviceAccount,
        }))),
    }, parent);
    const attachment = new aws.iam.RolePolicyAttachment(`${name}-policy`, { role: this.role.name, policyArn: this.policy.arn }, parent);

    this.release = new k8s.helm.v3.Release(`${name}-release`, {
      name: LB_CONTROLLER.chart,
      chart: LB_CONTROLLER.chart,
      version: LB_CONTROLLER.chartVersion,
      repositoryOpts: { repo: LB_CONTROLLER.repository },
      namespace: LB_CONTROLLER.namespace,
      values: pulumi.all([args.vpcId, this.role.arn]).apply(([vpcId, roleArn]) =>
        buildLbControllerValues({ clusterName: args.clusterName, region: args.region, vpcId, roleArn })),
      // Waits for the controller Deployment, so its webhook answers before anything depends on it.
      skipAwait: false,
      timeout: 600,
    }, {
      parent: this,
      provider: args.provider,
      dependsOn: [...args.dependsOn, attachment],
      // A fixed release name in kube-system: a replacement uninstalls the old release first.
      deleteBeforeReplace: true,
    });

    this.ready = [this.release, attachment];
    this.registerOutputs({ release: this.release.status });
  }
}
