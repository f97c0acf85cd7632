/** Pulumi entry point (package.json "main"): every export is a stack output. */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./config";
import { runProgram } from "./program";
import { SourceError } from "./sources";

function run() {
  try {
    return runProgram();
  } catch (err) {
    // A RunError is shown as its message alone, without a stack trace: these are the user's to fix.
    if (err instanceof ConfigError || err instanceof SourceError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const outputs = run();

export const cloud = outputs.cloud;
export const endpoint = outputs.endpoint;
export const url = outputs.url;
export const user = outputs.user;
export const token = outputs.token;
export const secretKey = outputs.secretKey;
export const kubeconfig = outputs.kubeconfig;
export const clusterName = outputs.clusterName;
export const namespace = outputs.namespace;
export const miniCluster = outputs.miniCluster;
export const operatorVersion = outputs.operatorVersion;
export const clientCommand = outputs.clientCommand;
export const portForwardCommand = outputs.portForwardCommand;
