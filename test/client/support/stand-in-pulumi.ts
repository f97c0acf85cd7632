/**
 * A stand-in `pulumi` executable for --stack: it answers `stack output --json --show-secrets`
 * with outputs of the program's own shape (typed against stacks/flux-restful.ts StackOutputs,
 * built with the same endpoint and client-command builders) pointing at a test server.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { clientCommand, endpointUrl, type Endpoint } from "../../../components/restful-endpoint.build";
import type { StackOutputs } from "../../../stacks/flux-restful";

/** What `pulumi stack output --json --show-secrets` prints: every output, secrets in clear. */
export type PrintedOutputs = { [K in keyof StackOutputs]: pulumi.Unwrap<StackOutputs[K]> };

export function stackOutputs(stack: string, url: string, auth: { user: string; token: string; secretKey: string }): PrintedOutputs {
  const { hostname, port, protocol } = new URL(url);
  const endpoint: Endpoint = { scheme: protocol === "https:" ? "https" : "http", host: hostname, port: Number(port) };
  return {
    cloud: "gke",
    endpoint,
    url: endpointUrl(endpoint),
    user: auth.user,
    token: auth.token,
    secretKey: auth.secretKey,
    kubeconfig: "apiVersion: v1\nkind: Config\nclusters: []\n",
    clusterName: `flux-restful-${stack}`,
    namespace: "flux-restful",
    miniCluster: "flux-sample",
    operatorVersion: "0.2.1",
    clientCommand: clientCommand(stack),
  };
}

/**
 * Writes `pulumi` into `dir`, answering for `stack` only (with `--cwd project` when given),
 * as the real CLI does otherwise; returns a PATH that finds it first.
 */
export function standInPulumi(dir: string, stack: string, outputs: PrintedOutputs, project?: string): string {
  writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs, null, 4));
  const expected = `stack output --json --show-secrets --stack ${stack}${project ? ` --cwd ${project}` : ""}`;
  const script = [
    "#!/bin/sh",
    `[ "$*" = "${expected}" ] || { echo "error: no stack named '$6' found" >&2; exit 255; }`,
    `cat "${path.join(dir, "outputs.json")}"`,
  ].join("\n");
  writeFileSync(path.join(dir, "pulumi"), script + "\n", { mode: 0o755 });
  return `${dir}:${process.env.PATH}`;
}
