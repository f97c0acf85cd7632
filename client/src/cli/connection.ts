/**
 * Where the CLI connects. Each setting comes from the first of: a flag (--stack counts as one:
 * the stack's outputs), the Python client's environment variables, a saved profile, and finally
 * the Python client's default host.
 *
 * A profile named with --profile or FLUX_RESTFUL_PROFILE always applies. The default profile
 * applies only when no host is given otherwise, so its credentials never go to another server.
 */
import { execFile } from "node:child_process";
import { FluxRestfulError } from "../errors";
import type { ClientOptions } from "../types";
import { getProfile, readProfiles, type Profile } from "./profiles";

export const DEFAULT_HOST = "http://127.0.0.1:5000";

export interface ConnectionFlags {
  host?: string;
  user?: string;
  token?: string;
  secretKey?: string;
  stack?: string;
  /** The Pulumi project directory for --stack (default: the current directory). */
  cwd?: string;
  profile?: string;
}

/** The stack outputs the client reads (stacks/flux-restful.ts StackOutputs has them all). */
interface StackOutputs {
  url?: string;
  user?: string;
  token?: string;
  secretKey?: string;
  /** The stack's own CA (stacks that generate their certificate). */
  caCertificate?: string;
}

/** Runs `pulumi stack output --json --show-secrets --stack NAME` and reads our outputs. */
export function readStackOutputs(stack: string, env: NodeJS.ProcessEnv, cwd?: string): Promise<Profile> {
  return new Promise((resolve, reject) => {
    const args = ["stack", "output", "--json", "--show-secrets", "--stack", stack, ...(cwd ? ["--cwd", cwd] : [])];
    execFile("pulumi", args, { env, maxBuffer: 4 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return reject(new FluxRestfulError("--stack needs the pulumi CLI on PATH"));
        const why = String(stderr).trim().split("\n").pop() || err.message;
        return reject(new FluxRestfulError(`pulumi stack output --stack ${stack} failed: ${why}`));
      }
      let outputs: StackOutputs;
      try {
        outputs = JSON.parse(stdout) as StackOutputs;
      } catch {
        return reject(new FluxRestfulError(`pulumi printed no JSON for stack "${stack}"`));
      }
      if (typeof outputs.url !== "string") {
        return reject(new FluxRestfulError(`stack "${stack}" has no url output yet (run pulumi up first)`));
      }
      resolve({ host: outputs.url, user: outputs.user, token: outputs.token, secretKey: outputs.secretKey, ca: outputs.caCertificate });
    });
  });
}

/** The settings given by flags (with --stack) and the environment, without any profile. */
export async function explicitConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Promise<Partial<Profile>> {
  const stack: Partial<Profile> = flags.stack ? await readStackOutputs(flags.stack, env, flags.cwd) : {};
  const pick = (flag: string | undefined, fromStack: string | undefined, variable: string) =>
    flag ?? fromStack ?? (env[variable] || undefined);
  return {
    host: pick(flags.host, stack.host, "FLUX_RESTFUL_HOST"),
    user: pick(flags.user, stack.user, "FLUX_USER"),
    token: pick(flags.token, stack.token, "FLUX_TOKEN"),
    secretKey: pick(flags.secretKey, stack.secretKey, "FLUX_SECRET_KEY"),
    // The stack's CA vouches for the stack's endpoint only.
    ca: flags.host ? undefined : stack.ca,
  };
}

/** The profile in force: named by flag or environment, else the default when no host is given otherwise. */
function chosenProfile(flags: ConnectionFlags, env: NodeJS.ProcessEnv, hostGiven: boolean): Profile | undefined {
  const named = flags.profile ?? (env.FLUX_RESTFUL_PROFILE || undefined);
  if (named === undefined && hostGiven) return undefined;
  const profiles = readProfiles(env);
  if (named !== undefined) return getProfile(profiles, named);
  return profiles.default ? profiles.profiles[profiles.default] : undefined;
}

export async function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Promise<ClientOptions> {
  const given = await explicitConnection(flags, env);
  const profile = chosenProfile(flags, env, given.host !== undefined);
  return {
    host: given.host ?? profile?.host ?? DEFAULT_HOST,
    user: given.user ?? profile?.user,
    token: given.token ?? profile?.token,
    secretKey: given.secretKey ?? profile?.secretKey,
    // A CA comes with its host: the stack's (given) or the profile's.
    ca: given.host !== undefined ? given.ca : profile?.ca,
  };
}
