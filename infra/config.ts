/**
 * Stack configuration: every key, its type, and validation that runs before any resource exists. The
 * defaults and descriptions live in Pulumi.yaml's `config:` block, which the Pulumi CLI applies to
 * every stack; the program reads its own defaults from the same file, so the two cannot drift.
 * `parseConfig` is pure (plain strings in, typed config out) so it is tested without Pulumi; every
 * error names the key and says what to set.
 */
import * as fs from "node:fs";
import { isIP } from "node:net";
import { type WorkspaceArgs } from "../components/minicluster.build";
import * as path from "node:path";
import { parse } from "yaml";
import { fitName } from "../components/names.build";

export const PROJECT = "flux-restful";

export type Cloud = "gke" | "eks" | "local";
export const CLOUDS: readonly Cloud[] = ["gke", "eks", "local"];

/** Every plain setting of the project namespace and its Pulumi config type (as declared in Pulumi.yaml). */
export const SETTINGS = {
  cloud: "string",
  clusterName: "string",
  namespace: "string",
  nodeCount: "integer",
  size: "integer",
  maxSize: "integer",
  machineType: "string",
  instanceType: "string",
  gkeReleaseChannel: "string",
  nodePort: "integer",
  allowedCidrs: "array",
  certificateArn: "string",
  inboundCidrs: "array",
  insecureHttp: "boolean",
  fluxUser: "string",
  tokenExpiresMinutes: "integer",
  hasGpus: "boolean",
  fluxProxy: "boolean",
  sidecarImage: "string",
  fluxViewImage: "string",
  kubeContext: "string",
  nodeAddress: "string",
  localPort: "integer",
  installOperator: "boolean",
  workspaceClaim: "string",
  workspaceStorageClass: "string",
  workspaceSize: "string",
} as const;
export type Setting = keyof typeof SETTINGS;
export type SettingType = (typeof SETTINGS)[Setting];
type ValueOf<T extends SettingType> = T extends "integer" ? number : T extends "boolean" ? boolean : T extends "array" ? string[] : string;
/** `cloud` alone has no default: Pulumi requires it in every stack. */
export type Defaults = { readonly [S in Exclude<Setting, "cloud">]: ValueOf<(typeof SETTINGS)[S]> };

export const PROJECT_FILE = path.join(__dirname, "..", "Pulumi.yaml");

/** One entry of Pulumi.yaml's `config:` block, as Pulumi reads it (a bare value is shorthand for its default). */
export interface DeclaredSetting {
  type?: string;
  items?: { type: string };
  description?: string;
  default?: unknown;
  secret?: boolean;
}

export function readProjectSettings(file = PROJECT_FILE): Record<string, DeclaredSetting> {
  const config = (parse(fs.readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(config).map(([key, value]) =>
    [key, typeof value === "object" && value !== null && !Array.isArray(value) ? value as DeclaredSetting : { default: value }]));
}

function isOfType(type: SettingType, value: unknown): boolean {
  switch (type) {
    case "string": return typeof value === "string";
    case "integer": return Number.isInteger(value);
    case "boolean": return typeof value === "boolean";
    case "array": return Array.isArray(value) && value.every((v) => typeof v === "string");
  }
}

/** The defaults declared in the project file; throws when the file and SETTINGS disagree on a key or its type. */
export function projectDefaults(declared: Record<string, DeclaredSetting> = readProjectSettings()): Defaults {
  const defaults: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(SETTINGS) as [Setting, SettingType][]) {
    const entry = declared[name];
    if (entry?.type !== type) throw new Error(`Pulumi.yaml must declare config "${name}" with type ${type}, as the program reads it`);
    if (name === "cloud") continue;
    if (!isOfType(type, entry.default)) throw new Error(`Pulumi.yaml must give config "${name}" a default of type ${type}`);
    defaults[name] = entry.default;
  }
  return defaults as unknown as Defaults;
}

export const DEFAULTS: Defaults = projectDefaults();

/**
 * Secret keys: set with `pulumi config set --secret`; a value stored in plain text is refused. Only
 * that and their presence are validated here: the raw config carries one of the markers below.
 */
export const SECRET_KEYS = ["fluxToken", "fluxSecretKey", "tlsCertificate", "tlsKey"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];
export const ENCRYPTED = "[secret]";
export const PLAIN_TEXT = "[plain text]";

/** Every plain key of the project namespace, for the unknown-key (typo) check. */
export const PLAIN_KEYS = Object.keys(SETTINGS) as Setting[];

/**
 * The stack's own physical name: "<project>-<stack>" in lowercase letters, digits and dashes, so two
 * stacks of the project never share a cluster, namespace or account name. A name longer than
 * `maxLength` keeps its start and ends with a hash of the whole, which keeps it unique.
 */
export function stackName(stack: string, maxLength: number): string {
  return fitName(`${PROJECT}-${stack}`, maxLength);
}

export const CLUSTER_NAME_MAX = 32;

export interface CommonConfig {
  cloud: Cloud;
  stack: string;
  clusterName: string;
  namespace: string;
  /** MiniCluster pods (one broker each). */
  size: number;
  maxSize: number;
  nodePort: number;
  fluxUser: string;
  tokenExpiresMinutes: number;
  hasGpus: boolean;
  /** Serve the Flux proxy (FLUX_PROXY): docs/proxy.md. */
  fluxProxy: boolean;
  sidecarImage: string;
  /** The Flux view image the MiniCluster mounts: it decides which flux-core the brokers run. */
  fluxViewImage: string;
  /** The sidecar serves HTTPS itself with tlsCertificate/tlsKey (GKE and local). */
  tls: boolean;
  /** GKE and EKS: plain HTTP instead of the generated certificate (warned at every run). */
  insecureHttp: boolean;
  /** Where jobs and the API share files: each pod's own, or a ReadWriteMany claim every pod mounts. */
  workspace: WorkspaceArgs;
  /** Whether this stack installs the (cluster-wide) Flux Operator; false when another stack on the cluster does. */
  installOperator: boolean;
}

export interface GkeConfig extends CommonConfig {
  cloud: "gke";
  project: string;
  zone: string;
  nodeCount: number;
  machineType: string;
  releaseChannel: string;
  allowedCidrs: string[];
}

export interface EksConfig extends CommonConfig {
  cloud: "eks";
  region: string;
  nodeCount: number;
  instanceType: string;
  certificateArn?: string;
  inboundCidrs: string[];
}

export interface LocalConfig extends CommonConfig {
  cloud: "local";
  kubeContext?: string;
  /** A node address reachable from here: the endpoint is then this address and the NodePort. */
  nodeAddress?: string;
  /** Local port for the `kubectl port-forward` endpoint when no nodeAddress is set. */
  localPort: number;
}

export type DeploymentConfig = GkeConfig | EksConfig | LocalConfig;

export class ConfigError extends Error {
  constructor(readonly key: string, problem: string, fix: string) {
    super(`Invalid configuration "${key}": ${problem}. ${fix}`);
    this.name = "ConfigError";
  }
}

/** Full key names ("flux-restful:size", "gcp:project") to raw string values; set secret keys map to ENCRYPTED or PLAIN_TEXT. */
export type RawConfig = Record<string, string | undefined>;

const own = (key: string) => `${PROJECT}:${key}`;
const setHint = (key: string, example: string) => `Set it with: pulumi config set ${key} ${example}`;

class Reader {
  constructor(private readonly raw: RawConfig) {}

  value(key: string): string | undefined {
    const v = this.raw[key];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  }

  require(key: string, example: string, what: string): string {
    const v = this.value(key);
    if (v === undefined) throw new ConfigError(key, `${what} is required and not set`, setHint(key, example));
    return v;
  }

  string(name: Setting, fallback: string): string {
    return this.value(own(name)) ?? fallback;
  }

  integer(name: Setting, fallback: number | undefined, min: number, max: number): number {
    const key = own(name);
    const v = this.value(key);
    if (v === undefined) {
      if (fallback === undefined) throw new ConfigError(key, "is required and not set", setHint(key, String(min)));
      return fallback;
    }
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) {
      throw new ConfigError(key, `must be a whole number from ${min} to ${max}, got "${v}"`, setHint(key, String(fallback ?? min)));
    }
    return n;
  }

  boolean(name: Setting, fallback: boolean): boolean {
    const key = own(name);
    const v = this.value(key);
    if (v === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    throw new ConfigError(key, `must be true or false, got "${v}"`, setHint(key, String(fallback)));
  }

  matching(name: Setting, pattern: RegExp, what: string, example: string): string | undefined {
    const key = own(name);
    const v = this.value(key);
    if (v !== undefined && !pattern.test(v)) throw new ConfigError(key, `must be ${what}, got "${v}"`, setHint(key, example));
    return v;
  }

  cidrs(name: Setting): string[] | undefined {
    const key = own(name);
    const v = this.value(key);
    if (v === undefined) return undefined;
    const list = parseList(key, v);
    if (list.length === 0) throw new ConfigError(key, "must list at least one CIDR", setHint(key, "'[\"203.0.113.0/24\"]'"));
    for (const cidr of list) {
      if (!isCidr(cidr)) {
        throw new ConfigError(key, `"${cidr}" is not a CIDR range such as 203.0.113.0/24`, setHint(key, "'[\"203.0.113.0/24\"]'"));
      }
    }
    return list;
  }

  secretSet(name: SecretKey): boolean {
    return this.value(own(name)) !== undefined;
  }
}

/** A JSON array (what `pulumi config set --path` and YAML lists store) or a comma-separated list. */
function parseList(key: string, text: string): string[] {
  if (text.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(key, `is not a valid JSON list: ${text}`, setHint(key, "'[\"203.0.113.0/24\"]'"));
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
      throw new ConfigError(key, "must be a list of strings", setHint(key, "'[\"203.0.113.0/24\"]'"));
    }
    return parsed.map((x) => x.trim());
  }
  return text.split(",").map((x) => x.trim()).filter(Boolean);
}

export function isCidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash < 0) return false;
  const address = text.slice(0, slash);
  const prefix = text.slice(slash + 1);
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A Kubernetes storage quantity in binary or decimal units (10Gi, 1Ti, 500G). */
const STORAGE_QUANTITY = /^[1-9]\d{0,5}(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)$/;
const GCP_ZONE = /^[a-z]+-[a-z]+\d+-[a-z]$/;
const AWS_REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const ACM_ARN = /^arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/;

function parseWorkspace(r: Reader): WorkspaceArgs {
  const claimName = r.matching("workspaceClaim", DNS_SUBDOMAIN, "the name of a PersistentVolumeClaim in the MiniCluster's namespace", "flux-workspace");
  const storageClass = r.matching("workspaceStorageClass", DNS_SUBDOMAIN, "a StorageClass name", "standard-rwx");
  // Read (and checked) only for a claim the program makes; ignored otherwise.
  const size = r.matching("workspaceSize", STORAGE_QUANTITY, "a storage size such as 1Ti or 100Gi", "1Ti");
  if (claimName && storageClass) {
    throw new ConfigError(own("workspaceStorageClass"), `contradicts ${own("workspaceClaim")}: the workspace is either your claim or one made from a storage class`,
      `Remove one of them: pulumi config rm ${own("workspaceStorageClass")}`);
  }
  if (claimName) return { kind: "claim", claimName };
  if (storageClass) return { kind: "storageClass", storageClass, size: size ?? DEFAULTS.workspaceSize };
  return { kind: "emptyDir" };
}

/** Throws a ConfigError naming the first bad key; returns the typed config for one stack. */
export function parseConfig(raw: RawConfig, stack: string): DeploymentConfig {
  const r = new Reader(raw);

  const unknown = Object.keys(raw).filter(
    (k) => k.startsWith(`${PROJECT}:`) && ![...PLAIN_KEYS, ...SECRET_KEYS].includes(k.slice(PROJECT.length + 1) as never),
  );
  if (unknown.length) {
    throw new ConfigError(unknown[0], "is not a setting of this program",
      `Remove it (pulumi config rm ${unknown[0]}); known keys: ${[...PLAIN_KEYS, ...SECRET_KEYS].join(", ")}`);
  }

  for (const name of SECRET_KEYS) {
    const key = own(name);
    if (raw[key] === PLAIN_TEXT) {
      throw new ConfigError(key, "is stored in plain text in the stack's config",
        `Store it encrypted instead: pulumi config set --secret ${key} ${name.startsWith("tls") ? "< file.pem" : "<value>"}`);
    }
  }

  const cloudKey = own("cloud");
  const cloud = r.require(cloudKey, "gke", `the target (${CLOUDS.join(" | ")})`);
  if (!CLOUDS.includes(cloud as Cloud)) {
    throw new ConfigError(cloudKey, `must be one of ${CLOUDS.join(", ")}, got "${cloud}"`, setHint(cloudKey, "gke"));
  }

  // Empty (the default): derived from the stack, so stacks never share a cluster or namespace name.
  const clusterName = r.matching("clusterName", /^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$/,
    "a lowercase name of at most 32 letters, digits and dashes", "flux-restful") || DEFAULTS.clusterName || stackName(stack, CLUSTER_NAME_MAX);
  const namespace = r.matching("namespace", DNS_LABEL, "a Kubernetes namespace name (lowercase, dashes)", "flux-restful")
    || DEFAULTS.namespace || stackName(stack, 63);
  const fluxUser = r.matching("fluxUser", /^[^:\s]+$/, "a user name without spaces or colons", DEFAULTS.fluxUser) ?? DEFAULTS.fluxUser;
  const sidecarImage = r.string("sidecarImage", DEFAULTS.sidecarImage);
  if (!/[:@]/.test(sidecarImage.slice(sidecarImage.lastIndexOf("/") + 1)) || /:latest$/.test(sidecarImage)) {
    throw new ConfigError(own("sidecarImage"), `must pin a tag or digest, got "${sidecarImage}"`,
      setHint(own("sidecarImage"), DEFAULTS.sidecarImage));
  }
  if (/alpine/.test(sidecarImage)) {
    throw new ConfigError(own("sidecarImage"), "must be Debian-based: the operator's wrapper script needs bash",
      setHint(own("sidecarImage"), DEFAULTS.sidecarImage));
  }

  const fluxViewImage = r.string("fluxViewImage", DEFAULTS.fluxViewImage);
  if (!/[:@]/.test(fluxViewImage.slice(fluxViewImage.lastIndexOf("/") + 1)) || /:latest$/.test(fluxViewImage)) {
    throw new ConfigError(own("fluxViewImage"), `must pin a tag or digest, got "${fluxViewImage}"`,
      setHint(own("fluxViewImage"), `${DEFAULTS.fluxViewImage.split(":")[0]}@sha256:<digest>`));
  }

  const tlsCertificate = r.secretSet("tlsCertificate");
  const tlsKey = r.secretSet("tlsKey");
  if (tlsCertificate !== tlsKey) {
    const missing = own(tlsCertificate ? "tlsKey" : "tlsCertificate");
    throw new ConfigError(missing, "is needed together with the other half of the TLS pair",
      `Set it with: pulumi config set --secret ${missing} < file.pem (or remove both)`);
  }
  if (tlsCertificate && cloud === "eks") {
    throw new ConfigError(own("tlsCertificate"), "is for GKE and local stacks; on EKS the ALB terminates TLS",
      `Remove it and set ${own("certificateArn")} to an ACM certificate ARN instead`);
  }

  const insecureHttp = r.boolean("insecureHttp", DEFAULTS.insecureHttp);
  if (insecureHttp && cloud === "local") {
    throw new ConfigError(own("insecureHttp"), "is for gke and eks stacks; the local stack already serves HTTP unless tlsCertificate is set",
      `Remove it: pulumi config rm ${own("insecureHttp")}`);
  }
  if (insecureHttp && (tlsCertificate || r.value(own("certificateArn")) !== undefined)) {
    const other = own(tlsCertificate ? "tlsCertificate" : "certificateArn");
    throw new ConfigError(own("insecureHttp"), `contradicts ${other}, which asks for HTTPS`,
      `Remove one of them: pulumi config rm ${own("insecureHttp")}`);
  }

  const nodeCount = cloud === "local" ? undefined : r.integer("nodeCount", DEFAULTS.nodeCount, 1, 1000);
  // 0 (the default): one broker per node, and one on the local stack, whose node count is unknown.
  const size = r.integer("size", DEFAULTS.size, 0, 1000) || (nodeCount ?? 1);
  if (nodeCount !== undefined && size > nodeCount) {
    throw new ConfigError(own("size"), `asks for ${size} MiniCluster pods but the cluster has ${nodeCount} nodes (one broker per node)`,
      `Set ${own("size")} to at most ${nodeCount}, or raise ${own("nodeCount")}`);
  }
  const maxSize = r.integer("maxSize", DEFAULTS.maxSize, 0, 1000) || size;
  if (maxSize < size) {
    throw new ConfigError(own("maxSize"), `(${maxSize}) is smaller than ${own("size")} (${size})`, setHint(own("maxSize"), String(size)));
  }

  const workspace = parseWorkspace(r);

  const common: CommonConfig = {
    cloud: cloud as Cloud,
    stack,
    clusterName,
    namespace,
    size,
    maxSize,
    nodePort: r.integer("nodePort", DEFAULTS.nodePort, 30000, 32767),
    fluxUser,
    tokenExpiresMinutes: r.integer("tokenExpiresMinutes", DEFAULTS.tokenExpiresMinutes, 1, 525600),
    hasGpus: r.boolean("hasGpus", DEFAULTS.hasGpus),
    fluxProxy: r.boolean("fluxProxy", DEFAULTS.fluxProxy),
    sidecarImage,
    fluxViewImage,
    tls: tlsCertificate,
    insecureHttp,
    workspace,
    installOperator: r.boolean("installOperator", DEFAULTS.installOperator),
  };

  if (cloud === "gke") {
    const project = r.require("gcp:project", "<your-gcp-project-id>", "the Google Cloud project");
    const zone = r.require("gcp:zone", "us-central1-a", "the zone of the cluster");
    if (!GCP_ZONE.test(zone)) {
      throw new ConfigError("gcp:zone", `must be a zone such as us-central1-a (a region would multiply the node count per zone), got "${zone}"`,
        setHint("gcp:zone", "us-central1-a"));
    }
    return {
      ...common,
      cloud: "gke",
      project,
      zone,
      nodeCount: nodeCount!,
      machineType: r.string("machineType", DEFAULTS.machineType),
      releaseChannel: r.matching("gkeReleaseChannel", /^(RAPID|REGULAR|STABLE|EXTENDED)$/,
        "RAPID, REGULAR, STABLE or EXTENDED", DEFAULTS.gkeReleaseChannel) ?? DEFAULTS.gkeReleaseChannel,
      allowedCidrs: r.cidrs("allowedCidrs") ?? [...DEFAULTS.allowedCidrs],
    };
  }
  if (cloud === "eks") {
    const region = r.require("aws:region", "us-east-2", "the AWS region");
    if (!AWS_REGION.test(region)) throw new ConfigError("aws:region", `must be a region such as us-east-2, got "${region}"`, setHint("aws:region", "us-east-2"));
    return {
      ...common,
      cloud: "eks",
      region,
      nodeCount: nodeCount!,
      instanceType: r.string("instanceType", DEFAULTS.instanceType),
      certificateArn: r.matching("certificateArn", ACM_ARN, "an ACM certificate ARN",
        "arn:aws:acm:us-east-2:123456789012:certificate/<id>"),
      inboundCidrs: r.cidrs("inboundCidrs") ?? [...DEFAULTS.inboundCidrs],
    };
  }
  const nodeAddress = r.value(own("nodeAddress"));
  if (nodeAddress !== undefined && isIP(nodeAddress) === 0 && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(nodeAddress)) {
    throw new ConfigError(own("nodeAddress"), `must be an IP address or host name, got "${nodeAddress}"`, setHint(own("nodeAddress"), "172.18.0.2"));
  }
  return {
    ...common,
    cloud: "local",
    kubeContext: r.value(own("kubeContext")),
    nodeAddress,
    localPort: r.integer("localPort", DEFAULTS.localPort, 1, 65535),
  };
}
