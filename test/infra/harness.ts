/** Evaluates the real program under the offline mocks, recording resources and resource options. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DeclaredResource, Fakes, installOfflineMocks, settle } from "../../infra/mocks";
import { PROJECT } from "../../infra/config";
import { runProgram, runStack } from "../../infra/program";
import type { Fetch } from "../../infra/sources";
import type { WaitUntilReady } from "../../infra/readiness";
import type { StackOutputs } from "../../stacks/flux-restful";
import { readStackFile } from "../../scripts/plan";
import { FAKE_BUNDLE, OPERATOR_MANIFEST } from "./fixtures";

/** The resource options the engine decides lifecycles by (names stand for resources and transforms). */
export interface DeclaredOptions {
  type: string;
  name: string;
  dependsOn: string[];
  deleteBeforeReplace?: boolean;
  ignoreChanges?: string[];
  provider?: string;
  /** The packages of the providers handed over in `providers` (what a remote component receives). */
  providers: string[];
  transforms: string[];
  /** Per input, the resources its value comes from: the engine replaces a dependent whose inputs come from a replaced resource. */
  propertyDeps: Record<string, string[]>;
}

export interface Evaluation {
  resources: DeclaredResource[];
  options: DeclaredOptions[];
  outputs: StackOutputs;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "infra-test-"));
process.once("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
export const BUNDLE_PATH = path.join(tmp, "sidecar.js");
fs.writeFileSync(BUNDLE_PATH, FAKE_BUNDLE);

export function tempFile(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

const nameOf = (r: unknown) => (r as { __name?: string }).__name ?? "?";

/** The resources an input's Outputs were derived from (what the SDK sends as property dependencies). */
function sourcesOf(value: unknown, into = new Set<string>()): Set<string> {
  if (pulumi.Output.isInstance(value)) {
    // resources() is the SDK's synchronous record of the Output's direct sources.
    for (const r of (value as unknown as { resources(): Set<pulumi.Resource> }).resources()) into.add(nameOf(r));
  } else if (Array.isArray(value)) {
    value.forEach((v) => sourcesOf(v, into));
  } else if (typeof value === "object" && value !== null && !pulumi.Resource.isInstance(value)) {
    Object.values(value).forEach((v) => sourcesOf(v, into));
  }
  return into;
}

/** The packages of a `providers` option (a list or a map of provider resources). */
function providerPackages(providers: pulumi.ComponentResourceOptions["providers"]): string[] {
  const list = Array.isArray(providers) ? providers : Object.values(providers ?? {});
  return list.map((p) => (p as unknown as { getPackage(): string }).getPackage());
}

// Legacy stack transformations run inside the SDK, so unlike dependsOn sent to the engine they can be
// observed under mocks. They need the root stack resource, hence runInPulumiStack below.
function recordOptions(recording: DeclaredOptions[]): void {
  pulumi.runtime.registerStackTransformation((args) => {
    const deps = args.opts.dependsOn;
    const list = deps === undefined ? [] : Array.isArray(deps) ? deps : [deps];
    const opts = args.opts as pulumi.CustomResourceOptions;
    recording.push({
      type: args.type,
      name: args.name,
      dependsOn: list.filter((d) => pulumi.Resource.isInstance(d)).map(nameOf),
      deleteBeforeReplace: opts.deleteBeforeReplace,
      ignoreChanges: opts.ignoreChanges,
      provider: opts.provider && nameOf(opts.provider),
      providers: providerPackages((args.opts as pulumi.ComponentResourceOptions).providers),
      transforms: (opts.transforms ?? []).map((t) => t.name),
      propertyDeps: Object.fromEntries(Object.entries(args.props)
        .map(([key, value]) => [key, [...sourcesOf(value)].sort()] as const)
        .filter(([, deps]) => deps.length > 0)),
    });
    return undefined;
  });
}

/** What the last evaluation declared, also when it failed. */
export let lastDeclared: DeclaredResource[] = [];

export interface EvaluateOptions {
  bundlePath?: string;
  /** What the clouds answer on this run (see infra/mocks.ts). */
  fakes?: Fakes;
  /** Download the operator manifest with this instead of handing the program the test manifest. */
  fetch?: Fetch;
  /** Run the entry point's runStack (errors as Pulumi shows them) instead of runProgram. */
  asPulumiRunsIt?: boolean;
  /** Poll the endpoint with this at the end (skipped otherwise, as under every other offline run). */
  waitUntilReady?: WaitUntilReady;
  /** Take the config from Pulumi.<stackFile>.yaml while the stack has another name (default: the stack's own file). */
  stackFile?: string;
}

/** The stack file's config plus overrides (secret overrides are marked secret). */
export async function evaluate(
  stack: string,
  overrides: Record<string, string> = {},
  secretOverrides: Record<string, string> = {},
  { bundlePath = BUNDLE_PATH, fakes, fetch, asPulumiRunsIt, waitUntilReady, stackFile = stack }: EvaluateOptions = {},
): Promise<Evaluation> {
  const { values, secretKeys } = readStackFile(stackFile);
  const config = { "gcp:project": "test-project", ...values, ...overrides, ...secretOverrides };
  const resources = await installOfflineMocks(PROJECT, stack, fakes);
  lastDeclared = resources;
  const options: DeclaredOptions[] = [];
  pulumi.runtime.setAllConfig(config, [...secretKeys, ...Object.keys(secretOverrides)]);
  let outputs: StackOutputs | undefined;
  await pulumi.runtime.runInPulumiStack(async () => {
    recordOptions(options);
    const sources = { bundlePath, fetch, waitUntilReady, operatorManifest: fetch ? undefined : OPERATOR_MANIFEST };
    outputs = await (asPulumiRunsIt ? runStack : runProgram)(sources);
    return undefined;
  });
  await settle();
  if (!outputs) throw new Error("the program returned no outputs");
  return { resources, options, outputs };
}

export function ofType(resources: DeclaredResource[], type: string): DeclaredResource[] {
  return resources.filter((r) => r.type === type);
}

export function one(resources: DeclaredResource[], type: string): DeclaredResource {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}
