/** Pure helpers for the local stack: read a kubeconfig's contexts, cut it down to the one the stack deploys to. */
import { parse, stringify } from "yaml";

interface Named { name: string; [key: string]: unknown }
interface Kubeconfig {
  "current-context"?: string;
  contexts?: (Named & { context?: { cluster?: string; user?: string } })[];
  clusters?: Named[];
  users?: Named[];
  [key: string]: unknown;
}

export interface KubeconfigContexts {
  current?: string;
  /** Each context's name and the name of the cluster entry it uses. */
  contexts: { name: string; cluster?: string }[];
  clusters: string[];
}

/** Throws the YAML parser's error when the text is not YAML. */
export function kubeconfigContexts(kubeconfigYaml: string): KubeconfigContexts {
  const full = (parse(kubeconfigYaml) ?? {}) as Kubeconfig;
  return {
    current: full["current-context"] || undefined,
    contexts: (full.contexts ?? []).map((c) => ({ name: c.name, cluster: c.context?.cluster })),
    clusters: (full.clusters ?? []).map((c) => c.name),
  };
}

/**
 * Keeps only the named context (it must exist) with its cluster and user, and makes it current, so
 * the `kubeconfig` output carries no credentials for the user's other clusters and the provider never
 * follows `kubectl config use-context`.
 */
export function singleContextKubeconfig(kubeconfigYaml: string, contextName: string): string {
  const full = (parse(kubeconfigYaml) ?? {}) as Kubeconfig;
  const context = full.contexts?.find((c) => c.name === contextName);
  if (!context) throw new Error(`Context "${contextName}" is not in the kubeconfig`);
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": contextName,
    contexts: [context],
    clusters: (full.clusters ?? []).filter((c) => c.name === context.context?.cluster),
    users: (full.users ?? []).filter((u) => u.name === context.context?.user),
  });
}

/** The kubeconfig file kubectl would read: the first existing entry of KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPaths(env: NodeJS.ProcessEnv, home: string): string[] {
  const fromEnv = (env.KUBECONFIG ?? "").split(process.platform === "win32" ? ";" : ":").filter(Boolean);
  return fromEnv.length ? fromEnv : [`${home}/.kube/config`];
}
