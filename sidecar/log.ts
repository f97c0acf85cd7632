/**
 * Structured logs (pino). Secrets never reach the output: known header/field paths are
 * redacted, and as a last line of defence every written line is scrubbed of the configured
 * secret values, Bearer/Basic credentials and anything shaped like a JWT.
 */
import pino, { type Logger } from "pino";

export type { Logger };

const MASK = "[redacted]";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function literalPattern(secrets: readonly string[]): RegExp | undefined {
  // A secret can appear raw or JSON-escaped inside the line.
  const literals = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))]
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp);
  return literals.length ? new RegExp(literals.join("|"), "g") : undefined;
}

/**
 * Builds a function that removes every secret-looking substring from a log line. The list may grow
 * after this (rotated credentials are appended, never removed): the next line scrubs them too.
 */
export function secretScrubber(secrets: readonly string[]): (line: string) => string {
  const patterns = [
    /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi,
    /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g,
  ];
  let literal = literalPattern(secrets);
  let builtFor = secrets.length;
  return (line) => {
    if (secrets.length !== builtFor) {
      literal = literalPattern(secrets);
      builtFor = secrets.length;
    }
    let out = line;
    if (literal) out = out.replace(literal, MASK);
    for (const pattern of patterns) out = out.replace(pattern, (_m, scheme?: string) => (scheme ? `${scheme} ${MASK}` : MASK));
    return out;
  };
}

export function createLogger(opts: { level: string; secrets: readonly string[]; destination?: NodeJS.WritableStream }): Logger {
  const scrub = secretScrubber(opts.secrets);
  return pino(
    {
      level: opts.level,
      base: { service: "flux-restful-sidecar" },
      redact: {
        paths: [
          "req.headers.authorization",
          "req.headers.cookie",
          "headers.authorization",
          "headers.cookie",
          "*.password",
          "*.pass",
          "*.token",
          "*.secretKey",
          "*.access_token",
        ],
        censor: MASK,
      },
      hooks: { streamWrite: scrub },
    },
    (opts.destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }),
  );
}

/**
 * The logger for the one line per request. Its fields are flat (method, path, status, ms, user),
 * so no redact path can match them, and pino's key-based redaction, which walks its paths again
 * for every line, was 40% of all a request allocated. The scrubber still runs on every line.
 */
export function requestLogger(log: Logger): Logger {
  return log.child({}, { redact: [] });
}

/** "********" when set, "(unset)" otherwise: the banner says whether a secret exists, never what it is. */
export function masked(value: string | undefined): string {
  return value ? "********" : "(unset)";
}
