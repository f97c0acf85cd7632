/** The program: read and validate config, read the sidecar bundle, deploy the stack for the chosen cloud. */
import * as pulumi from "@pulumi/pulumi";
import { FLUX_OPERATOR } from "../components/flux-operator.build";
import { PROJECT, RawConfig, SECRET_KEYS, parseConfig, type DeploymentConfig } from "./config";
import type { ProgramInputs, StackOutputs } from "../stacks/flux-restful";
import { deployGke } from "../stacks/gke";
import { deployEks } from "../stacks/eks";
import { deployLocal } from "../stacks/local";
import { readLocalKubeconfig, readSidecarBundle } from "./sources";

/** All config of the stack, secrets replaced by a marker: validation only needs to know they are set. */
function rawConfig(): RawConfig {
  const raw: RawConfig = { ...pulumi.runtime.allConfig() };
  for (const key of SECRET_KEYS) {
    const full = `${PROJECT}:${key}`;
    if (raw[full] !== undefined && raw[full] !== "") raw[full] = "[secret]";
  }
  return raw;
}

export function loadConfig(): DeploymentConfig {
  return parseConfig(rawConfig(), pulumi.getStack());
}

/** Downloads the pinned operator release manifest (during preview and up; never from a branch). */
export async function downloadOperatorManifest(url: string = FLUX_OPERATOR.manifestUrl, timeoutMs = 60_000): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new Error(`Could not download the Flux Operator manifest ${url}: ${(err as Error).message}`);
  }
  if (!response.ok) throw new Error(`Could not download the Flux Operator manifest ${url}: HTTP ${response.status}`);
  return response.text();
}

export interface ProgramSources {
  bundlePath?: string;
  /** The manifest text, or a promise of it; downloaded from the pinned release when absent. */
  operatorManifest?: pulumi.Input<string>;
}

function programInputs(bundle: string, operatorManifest: pulumi.Input<string>): ProgramInputs {
  const config = new pulumi.Config(PROJECT);
  return {
    bundle,
    operatorManifest,
    fluxToken: config.getSecret("fluxToken"),
    fluxSecretKey: config.getSecret("fluxSecretKey"),
    tlsCertificate: config.getSecret("tlsCertificate"),
    tlsKey: config.getSecret("tlsKey"),
  };
}

/** Everything is validated (config, then the bundle, then the local kubeconfig) before the first resource is declared. */
export function runProgram(sources: ProgramSources = {}): StackOutputs {
  const cfg = loadConfig();
  const bundle = readSidecarBundle(sources.bundlePath);
  const local = cfg.cloud === "local" ? readLocalKubeconfig(cfg.kubeContext) : undefined;
  const inputs = programInputs(bundle, sources.operatorManifest ?? downloadOperatorManifest());
  switch (cfg.cloud) {
    case "gke": return deployGke(cfg, inputs);
    case "eks": return deployEks(cfg, inputs);
    case "local": return deployLocal(cfg, inputs, local!);
  }
}
