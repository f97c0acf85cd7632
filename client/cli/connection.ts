/**
 * Where the CLI connects: flags first, then `--stack NAME` (Pulumi stack outputs), then the
 * Python client's environment variables, then the Python client's default host.
 */
import { execFile } from "node:child_process";
import { FluxRestfulError } from "../errors";
import type { ClientOptions } from "../types";

export const DEFAULT_HOST = "http://127.0.0.1:5000";

export interface ConnectionFlags {
  host?: string;
  user?: string;
  token?: string;
  secretKey?: string;
  stack?: string;
}

interface StackOutputs {
  endpoint?: { scheme?: string; host?: string; port?: number | string } | string;
  user?: string;
  token?: string;
  secretKey?: string;
  /** The stack's own CA (stacks that generate their certificate). */
  caCertificate?: string;
}

function endpointUrl(endpoint: StackOutputs["endpoint"], stack: string): string {
  if (typeof endpoint === "string") return endpoint;
  if (!endpoint?.host) throw new FluxRestfulError(`stack "${stack}" has no endpoint output yet (run pulumi up first)`);
  const scheme = endpoint.scheme ?? "http";
  const host = endpoint.host.includes(":") && !endpoint.host.startsWith("[") ? `[${endpoint.host}]` : endpoint.host;
  return `${scheme}://${host}${endpoint.port ? `:${endpoint.port}` : ""}`;
}

/** Runs `pulumi stack output --json --show-secrets --stack NAME` and reads our outputs. */
export function readStackOutputs(stack: string, env: NodeJS.ProcessEnv): Promise<ClientOptions> {
  return new Promise((resolve, reject) => {
    const args = ["stack", "output", "--json", "--show-secrets", "--stack", stack];
    execFile("pulumi", args, { env, maxBuffer: 4 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return reject(new FluxRestfulError("--stack needs the pulumi CLI on PATH"));
        const why = String(stderr).trim().split("\n").pop() || err.message;
        return reject(new FluxRestfulError(`pulumi stack output --stack ${stack} failed: ${why}`));
      }
      try {
        const outputs = JSON.parse(stdout) as StackOutputs;
        resolve({
          host: endpointUrl(outputs.endpoint, stack),
          user: outputs.user,
          token: outputs.token,
          secretKey: outputs.secretKey,
          ca: outputs.caCertificate,
        });
      } catch (parseError) {
        reject(parseError instanceof FluxRestfulError ? parseError : new FluxRestfulError(`pulumi printed no JSON for stack "${stack}"`));
      }
    });
  });
}

export async function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Promise<ClientOptions> {
  const stack: Partial<ClientOptions> = flags.stack ? await readStackOutputs(flags.stack, env) : {};
  const pick = (flag: string | undefined, fromStack: string | undefined, variable: string) =>
    flag ?? fromStack ?? (env[variable] || undefined);
  return {
    host: pick(flags.host, stack.host, "FLUX_RESTFUL_HOST") ?? DEFAULT_HOST,
    user: pick(flags.user, stack.user, "FLUX_USER"),
    token: pick(flags.token, stack.token, "FLUX_TOKEN"),
    secretKey: pick(flags.secretKey, stack.secretKey, "FLUX_SECRET_KEY"),
    // The stack's CA vouches for the stack's endpoint only.
    ca: flags.host ? undefined : stack.ca,
  };
}
