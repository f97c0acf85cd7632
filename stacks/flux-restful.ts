/** What every stack deploys onto its cluster: the operator, the MiniCluster and its endpoint, and the outputs. */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { FluxOperator } from "../components/flux-operator";
import { FluxMiniCluster } from "../components/minicluster";
import { RestfulEndpoint } from "../components/restful-endpoint";
import { AlbOptions, Endpoint, albSidecarEnvironment, clientCommand, endpointUrl } from "../components/restful-endpoint.build";
import { FLUX_OPERATOR, type KubernetesObject } from "../components/flux-operator.build";
import type { Cloud, DeploymentConfig } from "../infra/config";
import { NotReadyError, type WaitUntilReady } from "../infra/readiness";

/** Values from config secrets (absent ones are generated), the sidecar bundle and the operator's objects. */
export interface ProgramInputs {
  bundle: string;
  /** From the checked release manifest, patched (see flux-operator.build.ts); absent when another stack installs the operator. */
  operatorObjects?: KubernetesObject[];
  fluxToken?: pulumi.Output<string>;
  fluxSecretKey?: pulumi.Output<string>;
  tlsCertificate?: pulumi.Output<string>;
  tlsKey?: pulumi.Output<string>;
  /** Polls the endpoint at the end of `pulumi up` (the entry point passes it; tests and the plan may not). */
  waitUntilReady?: WaitUntilReady;
}

/** A PEM certificate (chain) and its private key, for the sidecar to serve HTTPS with. */
export interface TlsPair {
  certificate: pulumi.Output<string>;
  key: pulumi.Output<string>;
}

export interface FluxRestfulOptions {
  provider: k8s.Provider;
  /** The stack's generated pair; a pair from config (tlsCertificate/tlsKey) wins over it. */
  tls?: TlsPair;
  /** EKS: the load balancer controller, which admits every Service (the operator's and ours). */
  servicesDependOn?: pulumi.Resource[];
  nodePort?: number;
  alb?: AlbOptions<pulumi.Input<string>>;
}

export interface FluxRestful {
  operator?: FluxOperator;
  miniCluster: FluxMiniCluster;
  endpoint: RestfulEndpoint;
}

export function deployFluxRestful(cfg: DeploymentConfig, inputs: ProgramInputs, options: FluxRestfulOptions): FluxRestful {
  const servicesDependOn = options.servicesDependOn ?? [];
  const operator = inputs.operatorObjects && new FluxOperator("flux-operator", {
    provider: options.provider, objects: inputs.operatorObjects, dependsOn: servicesDependOn,
  });
  const tls = inputs.tlsCertificate && inputs.tlsKey ? { certificate: inputs.tlsCertificate, key: inputs.tlsKey } : options.tls;
  const miniCluster = new FluxMiniCluster("flux", {
    provider: options.provider,
    namespace: cfg.namespace,
    operator: operator?.release ?? FLUX_OPERATOR,
    size: cfg.size,
    maxSize: cfg.maxSize,
    hasGpus: cfg.hasGpus,
    fluxProxy: cfg.fluxProxy,
    tokenExpiresMinutes: cfg.tokenExpiresMinutes,
    sidecarImage: cfg.sidecarImage,
    viewImage: cfg.fluxViewImage,
    bundle: inputs.bundle,
    workspace: cfg.workspace,
    user: cfg.fluxUser,
    token: inputs.fluxToken,
    secretKey: inputs.fluxSecretKey,
    tls,
    frontEnvironment: options.alb ? albSidecarEnvironment() : undefined,
    dependsOn: operator ? [operator] : [],
  });
  const endpoint = new RestfulEndpoint("api", {
    provider: options.provider,
    namespace: miniCluster.namespaceName,
    miniClusterName: miniCluster.manifest.metadata.name,
    nodePort: options.nodePort,
    alb: options.alb,
    dependsOn: [miniCluster, ...servicesDependOn],
  });
  return { operator, miniCluster, endpoint };
}

/** The stack outputs, the same names on every cloud; the client CLI reads them with `pulumi stack output --json --show-secrets`. */
export interface StackOutputs {
  cloud: Cloud;
  endpoint: pulumi.Output<Endpoint>;
  url: pulumi.Output<string>;
  user: string;
  token: pulumi.Output<string>;
  secretKey: pulumi.Output<string>;
  kubeconfig: pulumi.Output<string>;
  clusterName: pulumi.Output<string>;
  namespace: string;
  miniCluster: string;
  operatorVersion: string;
  clientCommand: string;
  /** PEM of the stack's own CA, when the stack generated the API's certificate: what clients trust. */
  caCertificate?: pulumi.Output<string>;
  /** Local stacks without a reachable node address: run this, then use the endpoint. */
  portForwardCommand?: string;
}

export function stackOutputs(
  cfg: DeploymentConfig,
  app: FluxRestful,
  cluster: {
    endpoint: pulumi.Output<Endpoint>;
    kubeconfig: pulumi.Output<string>;
    clusterName: pulumi.Input<string>;
    caCertificate?: pulumi.Output<string>;
    /** Omitted where this machine cannot reach the endpoint during `pulumi up` (a port-forward not yet running). */
    waitUntilReady?: WaitUntilReady;
  },
): StackOutputs {
  const wait = cluster.waitUntilReady;
  const url = pulumi.all([cluster.endpoint, cluster.caCertificate]).apply(async ([endpoint, ca]) => {
    const url = endpointUrl(endpoint);
    // A preview has no endpoint to ask; an update ends only when the API answers.
    if (wait && !pulumi.runtime.isDryRun()) {
      try {
        await wait(url, ca);
      } catch (err) {
        throw err instanceof NotReadyError ? new pulumi.RunError(err.message) : err;
      }
    }
    return url;
  });
  const outputs: StackOutputs = {
    cloud: cfg.cloud,
    endpoint: cluster.endpoint,
    url,
    user: cfg.fluxUser,
    token: app.miniCluster.token,
    secretKey: app.miniCluster.secretKey,
    kubeconfig: pulumi.secret(cluster.kubeconfig),
    clusterName: pulumi.output(cluster.clusterName),
    namespace: cfg.namespace,
    miniCluster: app.miniCluster.manifest.metadata.name,
    operatorVersion: (app.operator?.release ?? FLUX_OPERATOR).version,
    clientCommand: clientCommand(cfg.stack),
  };
  return cluster.caCertificate ? { ...outputs, caCertificate: cluster.caCertificate } : outputs;
}

/** The explicit opt-out from HTTPS on a cloud stack, said at every run. */
export function warnInsecureHttp(cloud: Cloud): void {
  pulumi.log.warn(`flux-restful:insecureHttp is set: the ${cloud} API is plain HTTP, so its credentials and every job's `
    + "output cross the internet unencrypted. Remove it (pulumi config rm flux-restful:insecureHttp) for HTTPS.");
}
