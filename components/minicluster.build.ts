/**
 * Pure builders for the MiniCluster and the objects beside it (credentials Secret, bundle ConfigMap),
 * plus the operator's own validation rules, checked up front because the operator only logs a
 * failed validation and never reports it on the object.
 */
import { createHash } from "node:crypto";
import type { OperatorRelease } from "./flux-operator.build";

export const MINICLUSTER_API_VERSION = "flux-framework.org/v1alpha2";
export const MINICLUSTER_KIND = "MiniCluster";

/** The port the sidecar listens on (flux-restful-api's default). */
export const SIDECAR_PORT = 5000;
export const SIDECAR_CONTAINER = "restful";
export const SIDECAR_MOUNT_PATH = "/opt/flux-restful";
export const SIDECAR_FILE = "sidecar.js";
export const CREDENTIALS_SECRET = "flux-restful-credentials";
export const TLS_SECRET = "flux-restful-tls";
export const TLS_MOUNT_PATH = "/etc/flux-restful/tls";

/** Keys of the credentials Secret, and the sidecar env var each one feeds. */
export const CREDENTIAL_ENV = {
  FLUX_USER: "user",
  FLUX_TOKEN: "token",
  FLUX_SECRET_KEY: "secret-key",
} as const;

export interface Credentials<T> {
  user: T;
  token: T;
  secretKey: T;
}

/**
 * The sidecar's default image: stock Debian slim with a current LTS Node, pinned to the exact release
 * the node flags below were measured on (a new Node release needs the flags measured again:
 * `npm run bench:sidecar -- --flag-table`, README "Benchmark").
 */
export const SIDECAR_IMAGE = "node:24.19.0-bookworm-slim";

/** The Node release in SIDECAR_IMAGE's tag, which the benchmark and the CI guard run the bundle on. */
export const SIDECAR_NODE_VERSION = /^node:(\d+\.\d+\.\d+)-/.exec(SIDECAR_IMAGE)![1];

/**
 * Memory over speed, as a sidecar next to the broker should choose, measured on SIDECAR_NODE_VERSION
 * (README, "Benchmark"). Without the optimizing compilers no optimized code is made and the pages
 * of the node binary that make it are never touched: --no-maglev (Node 22+ runs Maglev even with
 * --no-opt) saved 22 MiB of RSS after load, --no-opt (Turbofan) 10 more. Sparkplug (baseline code)
 * stays: about 1 MiB, within run-to-run noise. The small young generation, size mode and old-space
 * cap bound the heap under heavier load than the benchmark's, where each is within noise.
 */
export const SIDECAR_NODE_FLAGS = ["--max-semi-space-size=1", "--max-old-space-size=128", "--optimize-for-size", "--no-opt", "--no-maglev"];

/**
 * glibc malloc settings for the sidecar: one arena (it is single-threaded, extra arenas only hold
 * freed memory), and a fixed mmap threshold so large response buffers go back to the kernel when
 * freed instead of raising the threshold and staying in the heap.
 */
export const SIDECAR_MALLOC_ENV = { MALLOC_ARENA_MAX: "1", MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072" };

/**
 * Runs the sidecar on the lead broker only. Every pod of the indexed Job has this container, so the
 * others must stay alive (an exited container keeps the pod from becoming Ready). `exec` makes node
 * the process that receives SIGTERM. The view's library paths are unset so they never reach node.
 * The others wait on a background sleep, so the shell runs its TERM trap at once (a foreground
 * `sleep` would hold the signal until it ends, and the pod would wait out its grace period).
 */
export const SIDECAR_COMMAND = [
  `if [ "$JOB_COMPLETION_INDEX" = "0" ]; then`,
  `  unset LD_LIBRARY_PATH PYTHONPATH`,
  `  exec node ${SIDECAR_NODE_FLAGS.join(" ")} ${SIDECAR_MOUNT_PATH}/${SIDECAR_FILE}`,
  `else`,
  `  trap 'kill $! 2>/dev/null; exit 0' TERM`,
  `  sleep infinity & wait`,
  `fi`,
].join("\n");

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Content-addressed, so a new bundle gets a new ConfigMap and (through the spec hash) a new MiniCluster. */
export function sidecarConfigMapName(bundle: string): string {
  return `flux-restful-sidecar-${sha256Hex(bundle).slice(0, 10)}`;
}

/** Generic in the namespace: the component passes the Namespace resource's name, so its objects follow a replacement of it. */
export function buildSidecarConfigMap<N = string>(namespace: N, bundle: string) {
  return {
    apiVersion: "v1" as const,
    kind: "ConfigMap" as const,
    metadata: { name: sidecarConfigMapName(bundle), namespace, labels: appLabels() },
    // Immutable: the running node process would never see an in-place update anyway.
    immutable: true,
    data: { [SIDECAR_FILE]: bundle },
  };
}

/** Generic in the value type: the component passes secret Outputs, `plan --k8s` passes placeholders. */
export function buildCredentialsSecret<T, N = string>(namespace: N, credentials: Credentials<T>) {
  return {
    apiVersion: "v1" as const,
    kind: "Secret" as const,
    metadata: { name: CREDENTIALS_SECRET, namespace, labels: appLabels() },
    type: "Opaque",
    stringData: {
      [CREDENTIAL_ENV.FLUX_USER]: credentials.user,
      [CREDENTIAL_ENV.FLUX_TOKEN]: credentials.token,
      [CREDENTIAL_ENV.FLUX_SECRET_KEY]: credentials.secretKey,
    },
  };
}

export function buildTlsSecret<T, N = string>(namespace: N, certificate: T, key: T) {
  return {
    apiVersion: "v1" as const,
    kind: "Secret" as const,
    metadata: { name: TLS_SECRET, namespace, labels: appLabels() },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": certificate, "tls.key": key },
  };
}

export function appLabels(): Record<string, string> {
  return { "app.kubernetes.io/part-of": "flux-restful" };
}

export interface MiniClusterInput {
  namespace: string;
  size: number;
  maxSize: number;
  operator: OperatorRelease;
  sidecarImage: string;
  /** The Flux view image (the operator's init container): it decides which flux-core the brokers run. */
  viewImage: string;
  /** The bundle text; only its hash reaches the spec (through the ConfigMap name). */
  bundle: string;
  hasGpus: boolean;
  tokenExpiresMinutes: number;
  /** Serve HTTPS from the sidecar with the certificate in the TLS Secret. */
  tls: boolean;
  /** Settings for what stands in front of the sidecar (an ALB); none when clients reach it directly. */
  frontEnvironment?: Record<string, string>;
}

export interface MiniClusterManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: MiniClusterSpec;
}

export interface ContainerVolume {
  configMapName?: string;
  secretName?: string;
  path?: string;
  readOnly?: boolean;
  items?: Record<string, string>;
}

export interface MiniClusterContainer {
  name?: string;
  image: string;
  runFlux?: boolean;
  command?: string;
  environment?: Record<string, string>;
  secrets?: Record<string, { name: string; key: string }>;
  volumes?: Record<string, ContainerVolume>;
  ports?: number[];
}

export interface MiniClusterSpec {
  size: number;
  maxSize: number;
  interactive: boolean;
  network: { headlessName: string };
  logging: { quiet: boolean; strict: boolean };
  flux: { noWaitSocket: boolean; container: { image: string } };
  containers: MiniClusterContainer[];
}

function sidecarContainer(input: MiniClusterInput): MiniClusterContainer {
  const configMapName = sidecarConfigMapName(input.bundle);
  const environment: Record<string, string> = {
    FLUX_REQUIRE_AUTH: "true",
    FLUX_NUMBER_NODES: String(input.size),
    FLUX_HAS_GPUS: String(input.hasGpus),
    FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: String(input.tokenExpiresMinutes),
    FLUX_URI: input.operator.brokerUri,
    HOST: "0.0.0.0",
    PORT: String(SIDECAR_PORT),
    // A stop must not leave the pod without its API: the container exiting 0 is not restarted.
    FLUX_RESTART_ON_STOP: "true",
    ...SIDECAR_MALLOC_ENV,
    ...input.frontEnvironment,
  };
  // The operator names the pod volume after configMapName but mounts the map key: they must match.
  const volumes: Record<string, ContainerVolume> = {
    [configMapName]: {
      configMapName,
      path: SIDECAR_MOUNT_PATH,
      readOnly: true,
      items: { [SIDECAR_FILE]: SIDECAR_FILE },
    },
  };
  if (input.tls) {
    environment.FLUX_TLS_CERT_FILE = `${TLS_MOUNT_PATH}/tls.crt`;
    environment.FLUX_TLS_KEY_FILE = `${TLS_MOUNT_PATH}/tls.key`;
    volumes[TLS_SECRET] = { secretName: TLS_SECRET, path: TLS_MOUNT_PATH, readOnly: true };
  }
  const secrets = Object.fromEntries(
    Object.entries(CREDENTIAL_ENV).map(([env, key]) => [env, { name: CREDENTIALS_SECRET, key }]),
  );
  // No `ports`: the operator would add a Service selecting every pod, most of which do not listen.
  // No probes: MiniClusterContainer in the operator's CRD (api/v1alpha2) has no probe fields, only
  // lifeCycle.postStartExec/preStopExec; readiness is the Service's (the lead pod's containers
  // running) and, at the end of `pulumi up`, the /readyz poll (infra/readiness.ts).
  return { name: SIDECAR_CONTAINER, image: input.sidecarImage, command: SIDECAR_COMMAND, environment, secrets, volumes };
}

/**
 * The MiniCluster, named after a hash of its spec: the operator ignores spec updates, so any change
 * must create a new MiniCluster, and a fresh name also avoids reusing a terminating headless Service.
 */
export function buildMiniCluster(input: MiniClusterInput): MiniClusterManifest {
  const containers: MiniClusterContainer[] = [
    { image: input.operator.brokerImage, runFlux: true },
    sidecarContainer(input),
  ];
  const specWithoutName = {
    size: input.size,
    maxSize: input.maxSize,
    interactive: true,
    // strict would abort the sidecar wrapper on its missing wait helper; the sidecar waits itself.
    logging: { quiet: false, strict: false },
    flux: { noWaitSocket: true, container: { image: input.viewImage } },
    containers,
  };
  const name = `flux-${sha256Hex(JSON.stringify(specWithoutName)).slice(0, 10)}`;
  return {
    apiVersion: MINICLUSTER_API_VERSION,
    kind: MINICLUSTER_KIND,
    metadata: { name, namespace: input.namespace, labels: appLabels() },
    spec: { ...specWithoutName, network: { headlessName: name } },
  };
}

/** Pods of the indexed Job that runs the lead broker (labels set by Kubernetes >= 1.28 at pod creation). */
export function leadBrokerSelector(miniClusterName: string): Record<string, string> {
  return {
    "batch.kubernetes.io/job-name": miniClusterName,
    "batch.kubernetes.io/job-completion-index": "0",
  };
}

const RESERVED_VOLUME_NAMES = ["flux-view", "spack-software", "flux-operator-home"];
const SECRET_ENV_NAMES = Object.keys(CREDENTIAL_ENV);

/**
 * The rules the operator's Validate() applies (plus the volume-name rule its pod builder relies on),
 * and ours: credentials only through secret references. Returns one message per broken rule.
 */
export function operatorRuleViolations(mc: MiniClusterManifest): string[] {
  const problems: string[] = [];
  const { spec } = mc;
  if (!Number.isInteger(spec.size) || spec.size < 1) problems.push(`spec.size must be a positive integer, got ${spec.size}`);
  if (spec.maxSize < spec.size) problems.push(`spec.maxSize (${spec.maxSize}) must be >= spec.size (${spec.size})`);
  const runners = spec.containers.filter((c) => c.runFlux === true).length;
  if (runners !== 1) problems.push(`exactly one container must have runFlux: true, found ${runners}`);
  spec.containers.forEach((c, i) => {
    if (!c.runFlux && !c.name) problems.push(`containers[${i}] runs without Flux and needs a name`);
    if (c.name === mc.metadata.name) problems.push(`containers[${i}] must not be named after the MiniCluster`);
    for (const [key, volume] of Object.entries(c.volumes ?? {})) {
      if (volume.configMapName !== undefined && volume.configMapName !== key) {
        problems.push(`containers[${i}].volumes key "${key}" must equal its configMapName "${volume.configMapName}"`);
      }
      if (RESERVED_VOLUME_NAMES.includes(key) || key === `${mc.metadata.name}-entrypoint`) {
        problems.push(`containers[${i}].volumes key "${key}" is reserved by the operator`);
      }
    }
    for (const env of SECRET_ENV_NAMES) {
      if (c.environment && env in c.environment) problems.push(`containers[${i}] has ${env} in plain environment; use secrets`);
    }
  });
  return problems;
}
