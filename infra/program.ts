/** The program: read and validate config and every outside source, then deploy the stack for the chosen cloud. */
import * as pulumi from "@pulumi/pulumi";
import { FLUX_OPERATOR, KubernetesObject, operatorObjects } from "../components/flux-operator.build";
import { ConfigError, ENCRYPTED, PLAIN_TEXT, PROJECT, RawConfig, SECRET_KEYS, parseConfig, type DeploymentConfig } from "./config";
import type { ProgramInputs, StackOutputs } from "../stacks/flux-restful";
import { deployGke } from "../stacks/gke";
import { deployEks } from "../stacks/eks";
import { deployLocal } from "../stacks/local";
import type { WaitUntilReady } from "./readiness";
import { Fetch, SourceError, fetchOperatorManifest, readLocalKubeconfig, readSidecarBundle } from "./sources";

// isConfigSecret is public at run time but marked internal in the SDK's typings.
const { isConfigSecret } = pulumi.runtime as unknown as { isConfigSecret(key: string): boolean };

/** All config of the stack, secret keys' values replaced by a marker: whether they are set, and encrypted. */
function rawConfig(): RawConfig {
  const raw: RawConfig = { ...pulumi.runtime.allConfig() };
  for (const key of SECRET_KEYS) {
    const full = `${PROJECT}:${key}`;
    if (raw[full] !== undefined && raw[full] !== "") raw[full] = isConfigSecret(full) ? ENCRYPTED : PLAIN_TEXT;
  }
  return raw;
}

export function loadConfig(): DeploymentConfig {
  return parseConfig(rawConfig(), pulumi.getStack());
}

export interface ProgramSources {
  bundlePath?: string;
  /** The manifest text, already checked (tests, the offline plan); otherwise downloaded and checked here. */
  operatorManifest?: string;
  /** How the manifest is downloaded (tests pass one that fails). */
  fetch?: Fetch;
  /** Polls the endpoint once deployed; the entry point passes it, tests only when they ask. */
  waitUntilReady?: WaitUntilReady;
}

function programInputs(bundle: string, operatorObjects: KubernetesObject[] | undefined, waitUntilReady?: WaitUntilReady): ProgramInputs {
  const config = new pulumi.Config(PROJECT);
  return {
    bundle,
    operatorObjects,
    fluxToken: config.getSecret("fluxToken"),
    fluxSecretKey: config.getSecret("fluxSecretKey"),
    tlsCertificate: config.getSecret("tlsCertificate"),
    tlsKey: config.getSecret("tlsKey"),
    waitUntilReady,
  };
}

/** Reads what the chosen cloud needs from this machine now, and returns how to deploy it. */
function stackFor(cfg: DeploymentConfig): (inputs: ProgramInputs) => StackOutputs {
  switch (cfg.cloud) {
    case "gke": return (inputs) => deployGke(cfg, inputs);
    case "eks": return (inputs) => deployEks(cfg, inputs);
    case "local": {
      const target = readLocalKubeconfig(cfg.kubeContext);
      return (inputs) => deployLocal(cfg, inputs, target);
    }
  }
}

/**
 * Everything is read and checked (config, the bundle, the local kubeconfig, then the downloaded
 * operator manifest) before the first resource is declared: a failure leaves nothing half-declared.
 */
export async function runProgram(sources: ProgramSources = {}): Promise<StackOutputs> {
  const cfg = loadConfig();
  const bundle = readSidecarBundle(sources.bundlePath);
  const deploy = stackFor(cfg);
  // A stack that shares its cluster with the one that installed the operator neither downloads nor declares it.
  const manifest = !cfg.installOperator ? undefined : sources.operatorManifest ?? await fetchOperatorManifest(FLUX_OPERATOR, sources.fetch);
  return deploy(programInputs(bundle, manifest === undefined ? undefined : operatorObjects(manifest), sources.waitUntilReady));
}

/** The program as Pulumi runs it: the user's problems become RunErrors, shown as their message alone. */
export async function runStack(sources: ProgramSources = {}): Promise<StackOutputs> {
  try {
    return await runProgram(sources);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SourceError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
