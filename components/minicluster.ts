import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import type { OperatorRelease } from "./flux-operator.build";
import {
  MiniClusterManifest,
  Workspace,
  WorkspaceArgs,
  buildCredentialsSecret,
  buildMiniCluster,
  buildSidecarConfigMap,
  buildTlsSecret,
  buildWorkspaceClaim,
  operatorRuleViolations,
  workspaceClaimName,
} from "./minicluster.build";


export interface FluxMiniClusterArgs {
  provider: k8s.Provider;
  namespace: string;
  operator: OperatorRelease;
  size: number;
  maxSize: number;
  hasGpus: boolean;
  /** Serve the Flux proxy (FLUX_PROXY, docs/proxy.md); default off. */
  fluxProxy?: boolean;
  tokenExpiresMinutes: number;
  sidecarImage: string;
  /** The Flux view image: which flux-core the brokers run. */
  viewImage: string;
  /** The sidecar bundle's text (dist/sidecar.js). */
  bundle: string;
  /** Where jobs and the sidecar share files (default: each pod's own). */
  workspace?: WorkspaceArgs;
  user: string;
  /** From config secrets; generated with @pulumi/random when absent. */
  token?: pulumi.Output<string>;
  secretKey?: pulumi.Output<string>;
  /** The sidecar serves HTTPS with this certificate and key (PEM). */
  tls?: { certificate: pulumi.Output<string>; key: pulumi.Output<string> };
  /** Sidecar settings for the load balancer in front of it, if any. */
  frontEnvironment?: Record<string, string>;
  /** The operator: its CRD must exist and it must be running before the MiniCluster is created. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

function miniClusterWorkspace(args: WorkspaceArgs | undefined): Workspace {
  if (args?.kind === "claim") return args;
  if (args?.kind === "storageClass") return { kind: "claim", claimName: workspaceClaimName(args.storageClass) };
  return { kind: "emptyDir" };
}

/** The MiniCluster in its own namespace, with the sidecar's credentials Secret and bundle ConfigMap. */
export class FluxMiniCluster extends pulumi.ComponentResource {
  readonly manifest: MiniClusterManifest;
  readonly namespace: k8s.core.v1.Namespace;
  /** The Namespace resource's name: objects elsewhere in it take this, not the config string (see below). */
  readonly namespaceName: pulumi.Output<string>;
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
      workspace: miniClusterWorkspace(args.workspace),
      hasGpus: args.hasGpus,
      fluxProxy: args.fluxProxy,
      tokenExpiresMinutes: args.tokenExpiresMinutes,
      tls: args.tls !== undefined,
      frontEnvironment: args.frontEnvironment,
    });
    const problems = operatorRuleViolations(this.manifest);
    if (problems.length) throw new Error(`The MiniCluster would be rejected by the Flux Operator: ${problems.join("; ")}`);

    // Every object here has a fixed or content-derived name: a replacement (`pulumi up --replace`, a
    // move to another cluster) must delete the old object first rather than collide with it.
    const k8sOpts = { parent: this, provider: args.provider, deleteBeforeReplace: true };
    // The operator labels every pod of the namespace it finds, so the MiniCluster gets one of its own.
    this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: args.namespace } }, k8sOpts);
    // An input taken from the Namespace makes the engine replace each object with it, instead of keeping
    // in the state objects that Kubernetes deleted along with the old namespace.
    this.namespaceName = this.namespace.metadata.name;

    // Wrapped in secret() explicitly: RandomPassword marks `result` secret only in the engine.
    this.token = pulumi.secret(args.token ?? new random.RandomPassword(`${name}-token`, { length: 32, special: false }, { parent: this }).result);
    this.secretKey = pulumi.secret(args.secretKey ?? new random.RandomPassword(`${name}-secret-key`, { length: 64, special: false }, { parent: this }).result);

    const credentials = new k8s.core.v1.Secret(`${name}-credentials`,
      buildCredentialsSecret(this.namespaceName, { user: pulumi.output(args.user), token: this.token, secretKey: this.secretKey }),
      k8sOpts);
    const bundle = new k8s.core.v1.ConfigMap(`${name}-sidecar`, buildSidecarConfigMap(this.namespaceName, args.bundle), k8sOpts);
    const children: pulumi.Resource[] = [credentials, bundle];
    if (args.workspace?.kind === "storageClass") {
      const claim = buildWorkspaceClaim(this.namespaceName, workspaceClaimName(args.workspace.storageClass), args.workspace.storageClass, args.workspace.size);
      // The MiniCluster depends on it: created before, deleted after the pods that use it.
      // Its creation waits until the claim is bound (or pending, for classes that bind on first use);
      // a new Filestore instance takes minutes.
      children.push(new k8s.core.v1.PersistentVolumeClaim(`${name}-workspace`, claim, { ...k8sOpts, customTimeouts: { create: "20m" } }));
    }
    if (args.tls) {
      children.push(new k8s.core.v1.Secret(`${name}-tls`,
        buildTlsSecret(this.namespaceName, pulumi.secret(args.tls.certificate), pulumi.secret(args.tls.key)), k8sOpts));
    }

    // The operator ignores spec updates: the name carries a hash of the spec, so a change replaces the
    // MiniCluster, and deleting the old one first also frees the nodes for the new one's pods. A new
    // bundle or rotated credentials change only the ConfigMap or Secret, updated in place (the
    // providers are given MUTABLE_DATA) and read again by the running sidecar.
    this.miniCluster = new k8s.apiextensions.CustomResource(`${name}-minicluster`,
      { ...this.manifest, metadata: { ...this.manifest.metadata, namespace: this.namespaceName } },
      { ...k8sOpts, dependsOn: [...args.dependsOn, ...children] });
    this.registerOutputs({ name: this.manifest.metadata.name, namespace: args.namespace });
  }
}
