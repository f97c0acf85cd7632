/** Pure helper for the local stack: cut a kubeconfig down to the one context the stack deploys to. */
import { parse, stringify } from "yaml";

interface Named { name: string; [key: string]: unknown }
interface Kubeconfig {
  "current-context"?: string;
  contexts?: (Named & { context?: { cluster?: string; user?: string } })[];
  clusters?: Named[];
  users?: Named[];
  [key: string]: unknown;
}

/**
 * Keeps only the chosen context (default: the current one) with its cluster and user, so the
 * `kubeconfig` output does not carry credentials for every other cluster in the user's file.
 */
export function singleContextKubeconfig(kubeconfigYaml: string, contextName?: string): { kubeconfig: string; context: string } {
  const full = (parse(kubeconfigYaml) ?? {}) as Kubeconfig;
  const name = contextName ?? full["current-context"];
  if (!name) throw new Error("The kubeconfig has no current context: set flux-restful:kubeContext");
  const context = full.contexts?.find((c) => c.name === name);
  if (!context) {
    const known = (full.contexts ?? []).map((c) => c.name).join(", ") || "none";
    throw new Error(`Context "${name}" is not in the kubeconfig (contexts: ${known}): set flux-restful:kubeContext`);
  }
  const kubeconfig = stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": name,
    contexts: [context],
    clusters: (full.clusters ?? []).filter((c) => c.name === context.context?.cluster),
    users: (full.users ?? []).filter((u) => u.name === context.context?.user),
  });
  return { kubeconfig, context: name };
}

/** The kubeconfig file kubectl would read: the first existing entry of KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPaths(env: NodeJS.ProcessEnv, home: string): string[] {
  const fromEnv = (env.KUBECONFIG ?? "").split(process.platform === "win32" ? ";" : ":").filter(Boolean);
  return fromEnv.length ? fromEnv : [`${home}/.kube/config`];
}
