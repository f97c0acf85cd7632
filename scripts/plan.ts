/**
 * `npm run plan -- --stack <gke|eks|local> [--config KEY=VALUE ...] [--json | --k8s]`: evaluate the
 * Pulumi program offline (mocked providers: no Pulumi CLI, no cloud, no cluster) and print what it
 * would create. `--config` sets a plain key over the stack file's, as `pulumi config set` would.
 *   default  every resource with its inputs, secrets masked, long values abbreviated
 *   --json   a JSON array of {type, name, inputs}, every input whole (for policy checks), secrets masked
 *   --k8s    the Kubernetes objects as multi-document YAML with placeholder secrets (for GitOps/kubectl)
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse, stringify } from "yaml";
import { PROJECT, readProjectSettings } from "../infra/config";
import { DeclaredResource, installOfflineMocks, maskSecrets, settle, valueOf } from "../infra/mocks";
import { runProgram } from "../infra/program";
import { fetchOperatorManifest } from "../infra/sources";
import { FLUX_OPERATOR, REMOVED_PROXY_CONTAINER } from "../components/flux-operator.build";
import { kubeconfigContexts, kubeconfigPaths } from "../components/local-cluster.build";

const ROOT = path.join(__dirname, "..");
const MASK = "[secret]";
const STACK_TYPE = "pulumi:pulumi:Stack";
const LONG_VALUE = 500;

export interface StackFileConfig {
  values: Record<string, string>;
  secretKeys: string[];
}

/**
 * Reads Pulumi.<stack>.yaml and adds the defaults of Pulumi.yaml's `config:` block for keys the stack
 * does not set, as the Pulumi CLI does before it runs the program (a bare value as its text, a list as
 * JSON). Encrypted (`secure:`) values become offline stand-ins, still marked secret.
 */
export function readStackFile(stack: string, root = ROOT): StackFileConfig {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`No stack file ${file}: use --stack gke, eks or local`);
  const config = (parse(fs.readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (typeof value === "object" && value !== null && "secure" in value) {
      values[key] = `offline-${key.replace(/\W/g, "-")}`;
      secretKeys.push(key);
    } else {
      values[key] = configText(value);
    }
  }
  return { values: withProjectDefaults(values, path.join(root, "Pulumi.yaml")), secretKeys };
}

/** How the CLI hands a config value to the program: text, a structured value as JSON. */
function configText(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value);
}

/** The stack's values plus each project default it does not override (Pulumi's mergeConfig). */
export function withProjectDefaults(values: Record<string, string>, projectFile?: string): Record<string, string> {
  const merged = { ...values };
  for (const [name, declared] of Object.entries(readProjectSettings(projectFile))) {
    const key = name.includes(":") ? name : `${PROJECT}:${name}`;
    if (merged[key] === undefined && declared.default !== undefined) merged[key] = configText(declared.default);
  }
  return merged;
}

/** Values a user must supply that an offline plan can stand in for, by cloud. */
const PLACEHOLDERS: Record<string, Record<string, string>> = { gke: { "gcp:project": "my-gcp-project" } };

const PLACEHOLDER_KUBECONFIG = stringify({
  apiVersion: "v1",
  kind: "Config",
  "current-context": "offline",
  contexts: [{ name: "offline", context: { cluster: "offline", user: "offline" } }],
  clusters: [{ name: "offline", cluster: { server: "https://127.0.0.1:6443" } }],
  users: [{ name: "offline", user: {} }],
});

export interface Plan {
  resources: DeclaredResource[];
  outputs: Record<string, unknown>;
  notes: string[];
}

/** Used when the release manifest cannot be downloaded: the two objects the program depends on. */
function standInOperatorManifest(): string {
  const r = FLUX_OPERATOR;
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: r.namespace } },
    { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: r.crdName } },
    {
      apiVersion: "apps/v1", kind: "Deployment", metadata: { name: r.deploymentName, namespace: r.namespace },
      spec: { template: { spec: { containers: [{ name: "manager", image: r.managerImage }] } } },
    },
  ].map((o) => stringify(o)).join("---\n");
}

async function operatorManifestForPlan(notes: string[]): Promise<string> {
  try {
    return await fetchOperatorManifest(FLUX_OPERATOR, fetch, 10_000);
  } catch (err) {
    notes.push(`${(err as Error).message}; planning with a stand-in for its objects`);
    return standInOperatorManifest();
  }
}

export interface PlanOptions {
  root?: string;
  bundlePath?: string;
  /** The operator manifest text; downloaded (or stood in for) when absent. */
  operatorManifest?: string;
  /** Plain config values over the stack file's ("flux-restful:size" -> "2"). */
  config?: Record<string, string>;
}

export async function planStack(stack: string, options: PlanOptions = {}): Promise<Plan> {
  const notes: string[] = [];
  const operatorManifest = options.operatorManifest ?? await operatorManifestForPlan(notes);
  const { values, secretKeys } = readStackFile(stack, options.root);
  Object.assign(values, options.config);
  for (const [key, placeholder] of Object.entries(PLACEHOLDERS[values[`${PROJECT}:cloud`]] ?? {})) {
    if (!values[key]) {
      values[key] = placeholder;
      notes.push(`${key} is not set in Pulumi.${stack}.yaml; planning with "${placeholder}"`);
    }
  }
  const restoreKubeconfig = process.env.KUBECONFIG;
  let placeholderDir: string | undefined;
  if (values[`${PROJECT}:cloud`] === "local") {
    if (!kubeconfigFile()) {
      placeholderDir = fs.mkdtempSync(path.join(os.tmpdir(), "flux-restful-plan-"));
      process.env.KUBECONFIG = path.join(placeholderDir, "kubeconfig");
      fs.writeFileSync(process.env.KUBECONFIG, PLACEHOLDER_KUBECONFIG);
      notes.push("no kubeconfig found; planning against a placeholder context \"offline\"");
    }
    const contextKey = `${PROJECT}:kubeContext`;
    const current = kubeconfigContexts(fs.readFileSync(kubeconfigFile()!, "utf8")).current;
    if (!values[contextKey] && current) {
      values[contextKey] = current;
      notes.push(`${contextKey} is not set in Pulumi.${stack}.yaml; planning with the current context "${current}"`);
    }
  }
  try {
    const resources = await installOfflineMocks(PROJECT, stack);
    pulumi.runtime.setAllConfig(values, secretKeys);
    // Inside a root Stack resource, as `pulumi up` runs a program (resource transforms need it).
    let declared: Record<string, unknown> = {};
    await pulumi.runtime.runInPulumiStack(async () => {
      declared = await runProgram({ bundlePath: options.bundlePath, operatorManifest }) as unknown as Record<string, unknown>;
      return undefined;
    });
    const outputs: Record<string, unknown> = {};
    for (const [name, output] of Object.entries(declared)) {
      if (output === undefined) continue;
      const secret = pulumi.Output.isInstance(output) && (await pulumi.isSecret(output));
      outputs[name] = secret ? MASK : await valueOf(output);
    }
    await settle();
    return { resources: resources.filter((r) => r.type !== STACK_TYPE), outputs, notes };
  } finally {
    if (restoreKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = restoreKubeconfig;
    if (placeholderDir) fs.rmSync(placeholderDir, { recursive: true, force: true });
  }
}

/** The kubeconfig file the program will read, if any. */
function kubeconfigFile(): string | undefined {
  return kubeconfigPaths(process.env, os.homedir()).find((f) => fs.existsSync(f));
}

/** In the text listing, long values (the sidecar bundle, policies) are shown by size only. */
function abbreviate(value: unknown): any {
  if (typeof value === "string" && value.length > LONG_VALUE) return `<${value.length} characters>`;
  if (Array.isArray(value)) return value.map(abbreviate);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, abbreviate(v)]));
  return value;
}

/** Every input whole, so a policy check reads what the engine would get; only secrets are masked. */
export function planAsJson(plan: Plan): string {
  return JSON.stringify(plan.resources.map((r) => ({ type: r.type, name: r.name, inputs: maskSecrets(r.inputs, () => MASK) })), null, 2);
}

function flatten(value: unknown, prefix: string, into: string[]): string[] {
  if (Array.isArray(value) && value.length && value.some((v) => typeof v === "object" && v !== null)) {
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, into));
  } else if (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else if (prefix) {
    into.push(`    ${prefix} = ${JSON.stringify(value)}`);
  }
  return into;
}

export function planAsText(plan: Plan): string {
  const lines: string[] = [];
  for (const r of plan.resources) {
    lines.push(`+ ${r.type}  ${r.name}`);
    flatten(abbreviate(maskSecrets(r.inputs, () => MASK)), "", lines);
  }
  lines.push("", `${plan.resources.length} resources`, "", "Outputs:");
  for (const [name, value] of Object.entries(plan.outputs)) lines.push(`    ${name} = ${JSON.stringify(abbreviate(value))}`);
  return lines.join("\n");
}

const isKubernetesObject = (r: DeclaredResource) =>
  r.type.startsWith("kubernetes:") && typeof r.inputs.apiVersion === "string" && typeof r.inputs.kind === "string";

const placeholderName = (key: string) => `REPLACE_ME_${key.replace(/\W/g, "_").toUpperCase()}`;

/** A secret map (a Secret's stringData) keeps its keys; each value becomes a placeholder. */
function placeholderFor(path: string, secret: unknown): unknown {
  if (typeof secret === "object" && secret !== null && !Array.isArray(secret)) {
    return Object.fromEntries(Object.keys(secret).map((k) => [k, placeholderName(k)]));
  }
  return placeholderName(path.split(".").pop() ?? "value");
}

/** The Kubernetes objects, in creation order; secrets as placeholders to fill before applying. */
export function planAsKubernetes(plan: Plan): string {
  const docs: string[] = [
    [
      `# Flux Operator ${FLUX_OPERATOR.version}: apply ${FLUX_OPERATOR.manifestUrl}`,
      `# (sha256 ${FLUX_OPERATOR.manifestSha256})`,
      `# first, with the "${REMOVED_PROXY_CONTAINER}" container removed from its Deployment (its image no longer exists)`,
      `# and the manager image set to ${FLUX_OPERATOR.managerImage}.`,
    ].join("\n"),
  ];
  for (const r of plan.resources) {
    if (r.type === "kubernetes:helm.sh/v3:Release") {
      const { chart, version, repositoryOpts, namespace, values } = r.inputs;
      const header = `Helm chart ${chart} ${version} from ${repositoryOpts?.repo} into ${namespace}, values:`;
      docs.push([header, ...stringify(maskSecrets(values, () => "REPLACE_ME")).trimEnd().split("\n")].map((l) => `# ${l}`).join("\n"));
    } else if (isKubernetesObject(r)) {
      docs.push(stringify(maskSecrets(r.inputs, placeholderFor)).trimEnd());
    }
  }
  return docs.map((d) => `---\n${d}`).join("\n") + "\n";
}

const USAGE = "Usage: npm run plan -- --stack <gke|eks|local> [--config KEY=VALUE ...] [--json | --k8s]";

async function main(argv: string[]): Promise<void> {
  const stackIndex = argv.indexOf("--stack");
  const stack = stackIndex >= 0 ? argv[stackIndex + 1] : undefined;
  if (!stack || !["gke", "eks", "local"].includes(stack)) {
    throw new Error(USAGE);
  }
  const config: Record<string, string> = {};
  argv.forEach((arg, i) => {
    if (arg !== "--config") return;
    const match = /^([\w-]+:[\w-]+)=(.*)$/s.exec(argv[i + 1] ?? "");
    if (!match) throw new Error(`--config takes KEY=VALUE, e.g. flux-restful:size=2; got "${argv[i + 1] ?? ""}"\n${USAGE}`);
    config[match[1]] = match[2];
  });
  const plan = await planStack(stack, { config });
  for (const note of plan.notes) process.stderr.write(`note: ${note}\n`);
  const text = argv.includes("--json") ? planAsJson(plan) : argv.includes("--k8s") ? planAsKubernetes(plan) : planAsText(plan);
  // Resolve only once the pipe has taken all of it: exiting earlier cuts a long listing at 64 KiB.
  await new Promise<void>((resolve, reject) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`, (err) => (err ? reject(err) : resolve())));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
