import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import type { OperatorRelease } from "./flux-operator.build";
import {
  MiniClusterManifest,
  buildCredentialsSecret,
  buildMiniCluster,
  buildSidecarConfigMap,
  buildTlsSecret,
  operatorRuleViolations,
} from "./minicluster.build";

export interface FluxMiniClusterArgs {
  provider: k8s.Provider;
  namespace: string;
  operator: OperatorRelease;
  size: number;
  maxSize: number;
  hasGpus: boolean;
  tokenExpiresMinutes: number;
  sidecarImage: string;
  /** The Flux view image: which flux-core the brokers run. */
  viewImage: string;
  /** The sidecar bundle's text (dist/sidecar.js). */
  bundle: string;
  user: string;
  /** From config secrets; generated with @pulumi/random when absent. */
  token?: pulumi.Output<string>;
  secretKey?: pulumi.Output<string>;
  /** The sidecar serves HTTPS with this certificate and key (PEM). */
  tls?: { certificate: pulumi.Output<string>; key: pulumi.Output<string> };
  /** The operator: its CRD must exist and it must be running before the MiniCluster is created. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** The MiniCluster in its own namespace, with the sidecar's credentials Secret and bundle ConfigMap. */
export class FluxMiniCluster extends pulumi.ComponentResource {
  readonly manifest: MiniClusterManifest;
  readonly namespace: k8s.core.v1.Namespace;
  readonly miniCluster: k8s.apiextensions.CustomResource;
  readonly token: pulumi.Output<string>;
  readonly secretKey: pulumi.Output<string>;

  constructor(name: string, args: FluxMiniClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:FluxMiniCluster", name, {}, opts);
    this.manifest = buildMiniCluster({
      namespace: args.namespace,
      size: args.size,
      maxSize: args.maxSize,
      operator: args.operator,
      sidecarImage: args.sidecarImage,
      viewImage: args.viewImage,
      bundle: args.bundle,
      hasGpus: args.hasGpus,
      tokenExpiresMinutes: args.tokenExpiresMinutes,
      tls: args.tls !== undefined,
    });
    const problems = operatorRuleViolations(this.manifest);
    if (problems.length) throw new Error(`The MiniCluster would be rejected by the Flux Operator: ${problems.join("; ")}`);

    const k8sOpts = { parent: this, provider: args.provider };
    // The operator labels every pod of the namespace it finds, so the MiniCluster gets one of its own.
    this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: args.namespace } }, k8sOpts);
    const inNamespace = { ...k8sOpts, dependsOn: [this.namespace] };

    // Wrapped in secret() explicitly: RandomPassword marks `result` secret only in the engine.
    this.token = pulumi.secret(args.token ?? new random.RandomPassword(`${name}-token`, { length: 32, special: false }, { parent: this }).result);
    this.secretKey = pulumi.secret(args.secretKey ?? new random.RandomPassword(`${name}-secret-key`, { length: 64, special: false }, { parent: this }).result);

    const credentials = new k8s.core.v1.Secret(`${name}-credentials`,
      buildCredentialsSecret(args.namespace, { user: pulumi.output(args.user), token: this.token, secretKey: this.secretKey }),
      inNamespace);
    const bundle = new k8s.core.v1.ConfigMap(`${name}-sidecar`, buildSidecarConfigMap(args.namespace, args.bundle), inNamespace);
    const children: pulumi.Resource[] = [credentials, bundle];
    if (args.tls) {
      children.push(new k8s.core.v1.Secret(`${name}-tls`,
        buildTlsSecret(args.namespace, pulumi.secret(args.tls.certificate), pulumi.secret(args.tls.key)), inNamespace));
    }

    // The operator ignores spec updates: the name carries a hash of the spec, so a change replaces the
    // MiniCluster, and the old one is deleted first so its pods free the nodes.
    this.miniCluster = new k8s.apiextensions.CustomResource(`${name}-minicluster`, this.manifest, {
      ...k8sOpts,
      dependsOn: [...args.dependsOn, this.namespace, ...children],
      deleteBeforeReplace: true,
    });
    this.registerOutputs({ name: this.manifest.metadata.name, namespace: args.namespace });
  }
}
