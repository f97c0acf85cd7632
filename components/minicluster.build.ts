/**
 * Pure builders for the MiniCluster and the objects beside it (credentials Secret, bundle ConfigMap,
 * workspace claim), plus the operator's own validation rules, checked up front because the operator
 * only logs a failed validation and never reports it on the object.
 *
 * What reaches a running MiniCluster without replacing it: the bundle ConfigMap and the credentials
 * Secret keep fixed names and are mounted as directories, which the kubelet updates in place (one
 * `..data` link swap); the sidecar watches them, takes new credentials at once and restarts itself
 * in its container on a new bundle (sidecar/reload.ts). Nothing that changes with them is in the
 * MiniCluster's spec, so its name (a hash of the spec) stays; any other change replaces it.
 */
import { createHash } from "node:crypto";
import { FLUX_OPERATOR, type OperatorRelease } from "./flux-operator.build";
import { CREDENTIAL_FILES, RELOAD_EXIT_CODE } from "../sidecar/mounts";

export const MINICLUSTER_API_VERSION = "flux-framework.org/v1alpha2";
export const MINICLUSTER_KIND = "MiniCluster";

/** The port the sidecar listens on (flux-restful-api's default). */
export const SIDECAR_PORT = 5000;
export const SIDECAR_CONTAINER = "restful";
export const SIDECAR_MOUNT_PATH = "/opt/flux-restful";
export const SIDECAR_FILE = "sidecar.js";
/** Fixed, so a new bundle updates it in place (and the pods see it) instead of making a new one. */
export const SIDECAR_CONFIGMAP = "flux-restful-sidecar";
export const CREDENTIALS_SECRET = "flux-restful-credentials";
/** The credentials Secret as files (its keys: CREDENTIAL_FILES), read again by the sidecar when rotated. */
export const CREDENTIALS_MOUNT_PATH = "/etc/flux-restful/credentials";
export const TLS_SECRET = "flux-restful-tls";
export const TLS_MOUNT_PATH = "/etc/flux-restful/tls";
/**
 * The sidecar's working directory, empty and writable. The operator's wrapper (start.sh) runs
 * `find $viewroot . -name libpython*.so*` and writes ./flux-view.sh in the working directory:
 * without one it is the image's `/`, and find walks the whole container file system.
 */
export const SIDECAR_WORKDIR = "/var/lib/flux-restful";

/** The workspace volume's name in the pod, and where a claim is mounted. */
export const WORKSPACE_VOLUME = "workspace";
export const WORKSPACE_CLAIM_PATH = "/workspace";

/**
 * Where jobs and the sidecar share files (issue 14). Default: a directory of the operator's own view
 * volume, an emptyDir already mounted read-write in every container of each pod, so each pod has
 * its own. A ReadWriteMany claim instead gives every pod of the MiniCluster the same files.
 * (The CRD's own `emptyDir` volumes cannot serve: operator 0.2.1 mounts every one of them at
 * /dev/shm, whatever their path: controllers/flux/containers.go, `MountPath: "/dev/shm"`.)
 */
export type Workspace = { kind: "emptyDir" } | { kind: "claim"; claimName: string };

/** What the stack asks for: each pod's own (default), an existing claim, or a claim the program makes. */
export type WorkspaceArgs =
  | { kind: "emptyDir" }
  | { kind: "claim"; claimName: string }
  | { kind: "storageClass"; storageClass: string; size: string };

export function workspacePath(operator: OperatorRelease, workspace: Workspace): string {
  return workspace.kind === "claim" ? WORKSPACE_CLAIM_PATH : `${operator.viewBase}/workspace`;
}

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
 * others must stay alive (an exited container keeps the pod from becoming Ready). The view's library
 * paths are unset so they never reach node. On the lead, the loop starts node again when it exits
 * RELOAD_EXIT_CODE (a new bundle is mounted), in the same container, so the broker beside it and its
 * jobs never notice; any other status ends the container as before. The shell passes SIGTERM on to
 * node and exits with node's status (0 after a clean shutdown). The others wait on a background
 * sleep, so the shell runs its TERM trap at once (a foreground `sleep` would hold the signal until it
 * ends, and the pod would wait out its grace period).
 */
export const SIDECAR_COMMAND = [
  `if [ "$JOB_COMPLETION_INDEX" = "0" ]; then`,
  `  unset LD_LIBRARY_PATH PYTHONPATH`,
  `  [ -z "$FLUX_WORKSPACE" ] || mkdir -p "$FLUX_WORKSPACE"`,
  `  trap 'kill -TERM "$sidecar" 2>/dev/null; wait "$sidecar"; exit $?' TERM`,
  `  while :; do`,
  `    node ${SIDECAR_NODE_FLAGS.join(" ")} ${SIDECAR_MOUNT_PATH}/${SIDECAR_FILE} & sidecar=$!`,
  `    wait "$sidecar"; status=$?`,
  `    [ "$status" = ${RELOAD_EXIT_CODE} ] || exit "$status"`,
  `  done`,
  `else`,
  `  trap 'kill $! 2>/dev/null; exit 0' TERM`,
  `  sleep infinity & wait`,
  `fi`,
].join("\n");

/**
 * Runs first in the operator's wrapper (start.sh: `{{ .Container.Commands.Init}}`), before its
 * `cp -R ${viewbase}/software /opt/software` (components.sh, "wait-view"), which would copy the
 * view's whole software tree into the container's writable layer. With /opt/software a link to that
 * tree, cp finds each entry to be the same file and copies nothing (GNU cp: "are the same file");
 * the view's programs still resolve through /opt/software. An image with its own /opt/software keeps it.
 */
export function sidecarInit(operator: OperatorRelease): string {
  return `[ -e /opt/software ] || ln -s ${operator.viewBase}/software /opt/software`;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Generic in the namespace: the component passes the Namespace resource's name, so its objects follow
 * a replacement of it. Mutable on purpose: a new bundle is an in-place update the pods see.
 */
export function buildSidecarConfigMap<N = string>(namespace: N, bundle: string) {
  return {
    apiVersion: "v1" as const,
    kind: "ConfigMap" as const,
    metadata: { name: SIDECAR_CONFIGMAP, namespace, labels: appLabels() },
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
      [CREDENTIAL_FILES.user]: credentials.user,
      [CREDENTIAL_FILES.token]: credentials.token,
      [CREDENTIAL_FILES.secretKey]: credentials.secretKey,
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

/**
 * The name of the claim the program makes: it carries the storage class, the one input a claim
 * cannot change in place, so another class is a new claim (and a new MiniCluster), never a
 * replacement under the running pods (whose use of the old one would hold its deletion).
 */
export function workspaceClaimName(storageClass: string): string {
  return `flux-restful-workspace-${sha256Hex(storageClass).slice(0, 8)}`;
}

/**
 * A ReadWriteMany claim for the workspace, created by the program (storage class and size from
 * config). Generic in the namespace, like the other objects.
 */
export function buildWorkspaceClaim<N = string>(namespace: N, name: string, storageClassName: string, size: string) {
  return {
    apiVersion: "v1" as const,
    kind: "PersistentVolumeClaim" as const,
    metadata: { name, namespace, labels: appLabels() },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName,
      resources: { requests: { storage: size } },
    },
  };
}

export interface MiniClusterInput {
  namespace: string;
  size: number;
  maxSize: number;
  operator: OperatorRelease;
  sidecarImage: string;
  /** The Flux view image (the operator's init container): it decides which flux-core the brokers run. */
  viewImage: string;
  /** Where jobs and the sidecar share files (default: each pod's own, in the view volume). */
  workspace?: Workspace;
  hasGpus: boolean;
  /** Serve the Flux proxy (FLUX_PROXY, docs/proxy.md); default off. */
  fluxProxy?: boolean;
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
  claimName?: string;
  /** Operator 0.2.1 mounts these at /dev/shm whatever `path` says (see Workspace). */
  emptyDir?: boolean;
  path?: string;
  readOnly?: boolean;
  items?: Record<string, string>;
}

export interface MiniClusterContainer {
  name?: string;
  image: string;
  runFlux?: boolean;
  workingDir?: string;
  commands?: { init?: string };
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
  const environment: Record<string, string> = {
    FLUX_REQUIRE_AUTH: "true",
    FLUX_CREDENTIALS_DIR: CREDENTIALS_MOUNT_PATH,
    FLUX_BUNDLE_FILE: `${SIDECAR_MOUNT_PATH}/${SIDECAR_FILE}`,
    FLUX_WORKSPACE: workspacePath(input.operator, input.workspace ?? { kind: "emptyDir" }),
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
  // The operator names a ConfigMap's pod volume after configMapName but mounts the map key: they must
  // match. Whole directories, never single files (subPath): only those see the kubelet's updates.
  const volumes: Record<string, ContainerVolume> = {
    [SIDECAR_CONFIGMAP]: {
      configMapName: SIDECAR_CONFIGMAP,
      path: SIDECAR_MOUNT_PATH,
      readOnly: true,
      items: { [SIDECAR_FILE]: SIDECAR_FILE },
    },
    [CREDENTIALS_SECRET]: { secretName: CREDENTIALS_SECRET, path: CREDENTIALS_MOUNT_PATH, readOnly: true },
  };
  // Only when on: the sidecar's default is off, and existing MiniClusters keep their spec as it was.
  if (input.fluxProxy) environment.FLUX_PROXY = "true";
  if (input.tls) {
    environment.FLUX_TLS_CERT_FILE = `${TLS_MOUNT_PATH}/tls.crt`;
    environment.FLUX_TLS_KEY_FILE = `${TLS_MOUNT_PATH}/tls.key`;
    volumes[TLS_SECRET] = { secretName: TLS_SECRET, path: TLS_MOUNT_PATH, readOnly: true };
  }
  // No `ports`: the operator would add a Service selecting every pod, most of which do not listen.
  // No probes: MiniClusterContainer in the operator's CRD (api/v1alpha2) has no probe fields, only
  // lifeCycle.postStartExec/preStopExec; readiness is the Service's (the lead pod's containers
  // running) and, at the end of `pulumi up`, the /readyz poll (infra/readiness.ts).
  // No `secrets`: environment variables from a Secret are fixed when the container starts, and would
  // be inherited by whatever the wrapper runs; the mounted files are read, and read again, by node.
  return {
    name: SIDECAR_CONTAINER,
    image: input.sidecarImage,
    workingDir: SIDECAR_WORKDIR,
    commands: { init: sidecarInit(input.operator) },
    command: SIDECAR_COMMAND,
    environment,
    volumes,
  };
}

/**
 * The broker's container. A workspace claim is declared here only: operator 0.2.1 gives each
 * container the mounts of every container before it (containers.go appends to one shared `mounts`
 * list), so the sidecar after it gets the same mount, while the Secret volumes declared on the
 * sidecar never reach the container that runs the jobs.
 */
function brokerContainer(input: MiniClusterInput): MiniClusterContainer {
  const container: MiniClusterContainer = { image: input.operator.brokerImage, runFlux: true };
  if (input.workspace?.kind === "claim") {
    container.volumes = { [WORKSPACE_VOLUME]: { claimName: input.workspace.claimName, path: WORKSPACE_CLAIM_PATH } };
  }
  return container;
}

/**
 * The MiniCluster, named after a hash of its spec: the operator ignores spec updates, so any change
 * must create a new MiniCluster, and a fresh name also avoids reusing a terminating headless Service.
 * The bundle and the credentials are not in the spec (fixed names, mounted files): they change
 * without a new MiniCluster.
 */
export function buildMiniCluster(input: MiniClusterInput): MiniClusterManifest {
  const containers: MiniClusterContainer[] = [brokerContainer(input), sidecarContainer(input)];
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

/**
 * Each container's volume mounts as operator 0.2.1 builds them (controllers/flux/containers.go,
 * getContainers): the view and entrypoint mounts, then every volume of this container and of every
 * container before it, in order; an `emptyDir` volume is mounted at /dev/shm whatever its path.
 */
export function operatorMounts(mc: MiniClusterManifest, viewBase: string): { name: string; mountPath: string; readOnly: boolean }[][] {
  const mounts = [
    { name: "flux-view", mountPath: viewBase, readOnly: false },
    { name: `${mc.metadata.name}-entrypoint`, mountPath: "/flux_operator/", readOnly: true },
  ];
  return mc.spec.containers.map((c) => {
    for (const [name, volume] of Object.entries(c.volumes ?? {})) {
      const emptyDir = volume.emptyDir === true;
      mounts.push({ name, mountPath: emptyDir ? "/dev/shm" : volume.path ?? "", readOnly: emptyDir ? false : volume.readOnly === true });
    }
    return [...mounts];
  });
}

/** Pods of the indexed Job that runs the lead broker (labels set by Kubernetes >= 1.28 at pod creation). */
export function leadBrokerSelector(miniClusterName: string): Record<string, string> {
  return {
    "batch.kubernetes.io/job-name": miniClusterName,
    "batch.kubernetes.io/job-completion-index": "0",
  };
}

const RESERVED_VOLUME_NAMES = ["flux-view", "spack-software", "flux-operator-home"];
const SECRET_ENV_NAMES = ["FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY"];

/**
 * The rules the operator's Validate() applies (plus the rules its pod builder relies on), and ours:
 * credentials only as mounted files. Returns one message per broken rule.
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
      if (c.environment && env in c.environment) problems.push(`containers[${i}] has ${env} in plain environment; mount the credentials Secret`);
      if (c.secrets && env in c.secrets) problems.push(`containers[${i}] takes ${env} from a Secret into its environment; mount the Secret instead`);
    }
    for (const [key, volume] of Object.entries(c.volumes ?? {})) {
      if (volume.claimName !== undefined && !volume.path) problems.push(`containers[${i}].volumes key "${key}" has a claimName and needs a path`);
    }
  });
  // 0.2.1 appends each container's volumes to the mounts of the containers after it: a volume named
  // in two containers is mounted twice in the later one, and Kubernetes rejects the pod.
  operatorMounts(mc, FLUX_OPERATOR.viewBase).forEach((mounts, i) => {
    const paths = mounts.map((m) => m.mountPath);
    const twice = paths.filter((p, j) => paths.indexOf(p) !== j);
    if (twice.length) problems.push(`containers[${i}] would mount ${[...new Set(twice)].join(", ")} twice (operator 0.2.1 passes each container's volumes on to the ones after it)`);
  });
  return problems;
}
