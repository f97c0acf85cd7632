/** Pure builders for how the sidecar is reached: the Service, the ALB Ingress, the endpoint and the client command. */
import { SIDECAR_PORT, appLabels, leadBrokerSelector } from "./minicluster.build";

export const SERVICE_NAME = "flux-restful-api";
export const INGRESS_NAME = "flux-restful-api";
/** Cheap and unauthenticated in the sidecar; `/readyz` would take the target out while the broker starts. */
export const HEALTH_CHECK_PATH = "/healthz";
export const ALB_INGRESS_CLASS = "alb";
/** Output streams are long-lived; the ALB's default idle timeout (60 s) would cut quiet ones. */
export const ALB_IDLE_TIMEOUT_SECONDS = 300;

/**
 * The sidecar's settings for the ALB in front of it, derived here from the ALB's own: the rate
 * limiter and the cookie read the client's address and scheme from the headers the ALB sets,
 * idle keep-alive outlasts the ALB's (or it would reuse a closed connection: a 502), and every
 * connection comes from the ALB's few addresses, so the per-address cap is the total one.
 */
export function albSidecarEnvironment(): Record<string, string> {
  return {
    FLUX_TRUST_PROXY: "true",
    FLUX_KEEPALIVE_TIMEOUT_SECONDS: String(ALB_IDLE_TIMEOUT_SECONDS + 5),
    FLUX_MAX_CONNECTIONS: "512",
    FLUX_MAX_CONNECTIONS_PER_ADDRESS: "512",
  };
}

export interface Endpoint {
  scheme: "http" | "https";
  host: string;
  port: number;
}

/** Generic in the namespace, like the MiniCluster's objects (see buildSidecarConfigMap). */
export function buildService<N = string>(namespace: N, miniClusterName: string, nodePort?: number) {
  return {
    apiVersion: "v1" as const,
    kind: "Service" as const,
    metadata: { name: SERVICE_NAME, namespace, labels: appLabels() },
    spec: {
      type: "NodePort",
      selector: leadBrokerSelector(miniClusterName),
      ports: [{ name: "http", protocol: "TCP", port: SIDECAR_PORT, targetPort: SIDECAR_PORT, ...(nodePort ? { nodePort } : {}) }],
    },
  };
}

/** Generic in the ARN: the stack passes the imported certificate's Output, tests a string. */
export interface AlbOptions<T = string> {
  /** ACM certificate: serve HTTPS on 443 and redirect HTTP to it. */
  certificateArn?: T;
  /** Restrict who may reach the ALB; all of the internet when unset. */
  inboundCidrs?: string[];
}

export function albAnnotations<T = string>(options: AlbOptions<T>): Record<string, string | T> {
  const annotations: Record<string, string | T> = {
    "alb.ingress.kubernetes.io/scheme": "internet-facing",
    "alb.ingress.kubernetes.io/target-type": "ip",
    "alb.ingress.kubernetes.io/healthcheck-path": HEALTH_CHECK_PATH,
    "alb.ingress.kubernetes.io/success-codes": "200",
    "alb.ingress.kubernetes.io/load-balancer-attributes": `idle_timeout.timeout_seconds=${ALB_IDLE_TIMEOUT_SECONDS}`,
  };
  if (options.certificateArn) {
    annotations["alb.ingress.kubernetes.io/certificate-arn"] = options.certificateArn;
    annotations["alb.ingress.kubernetes.io/listen-ports"] = JSON.stringify([{ HTTP: 80 }, { HTTPS: 443 }]);
    annotations["alb.ingress.kubernetes.io/ssl-redirect"] = "443";
  } else {
    annotations["alb.ingress.kubernetes.io/listen-ports"] = JSON.stringify([{ HTTP: 80 }]);
  }
  if (options.inboundCidrs?.length) {
    annotations["alb.ingress.kubernetes.io/inbound-cidrs"] = options.inboundCidrs.join(",");
  }
  return annotations;
}

export function buildAlbIngress<N = string, T = string>(namespace: N, options: AlbOptions<T>) {
  return {
    apiVersion: "networking.k8s.io/v1" as const,
    kind: "Ingress" as const,
    metadata: { name: INGRESS_NAME, namespace, labels: appLabels(), annotations: albAnnotations(options) },
    spec: {
      ingressClassName: ALB_INGRESS_CLASS,
      rules: [{
        http: {
          paths: [{
            path: "/",
            pathType: "Prefix",
            // The Service port, never the nodePort: with target-type ip the ALB sends to pod IPs.
            backend: { service: { name: SERVICE_NAME, port: { number: SIDECAR_PORT } } },
          }],
        },
      }],
    },
  };
}

export function albEndpoint(hostname: string, https: boolean): Endpoint {
  return https ? { scheme: "https", host: hostname, port: 443 } : { scheme: "http", host: hostname, port: 80 };
}

/** A host and port reached directly: a node's address and the NodePort, or a local port-forward. */
export function directEndpoint(host: string, port: number, https: boolean): Endpoint {
  return { scheme: https ? "https" : "http", host, port };
}

export function endpointUrl(endpoint: Endpoint): string {
  const defaultPort = endpoint.scheme === "https" ? 443 : 80;
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.scheme}://${host}${endpoint.port === defaultPort ? "" : `:${endpoint.port}`}`;
}

/** What to paste after `pulumi up`: the client CLI reads this stack's outputs itself. */
export function clientCommand(stack: string): string {
  return `npx flux-restful --stack ${stack} jobs`;
}

export function portForwardCommand(namespace: string, localPort: number): string {
  return `kubectl -n ${namespace} port-forward svc/${SERVICE_NAME} ${localPort}:${SIDECAR_PORT}`;
}
