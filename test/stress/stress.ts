/**
 * One stress run: a broker (the test broker, or the real one when FLUX_CONTRACT_REAL=1 inside
 * `flux start`), the sidecar in a child process with auth on and random secrets, the load from
 * load.ts, then the verdict: zero errors, zero lost submissions, RSS growth within the profile's
 * bound (10% in the full run), and no secret value in any log line.
 */
import { startBroker } from "../support/broker";
import { fetchAccessToken, randomCredentials, type Credentials } from "../reliability/support/auth";
import { startChildSidecar, type ChildSidecar } from "../reliability/support/child-sidecar";
import { sidecarEnv } from "../reliability/support/harness";
import { formatReport, runLoad, type LoadReport } from "./load";

export interface StressProfile {
  label: string;
  clients: number;
  durationMs: number;
  maxRequests: number;
  rssCheckpoints: [number, number];
  /** RSS at the second checkpoint may exceed RSS at the first by at most this factor. */
  maxRssRatio: number;
  /** Jobs submitted before the clock starts; 1000 fills the plain listing to its cap. */
  seedJobs: number;
}

export const FULL_PROFILE: StressProfile = {
  label: "stress (full)",
  clients: 64,
  durationMs: 30_000,
  maxRequests: 100_000,
  rssCheckpoints: [1_000, 10_000],
  maxRssRatio: 1.1,
  seedJobs: 1_000,
};
export const SHORT_PROFILE: StressProfile = {
  label: "stress (short)",
  clients: 8,
  // Ended by the request count, so both RSS samples are always taken; the time is only a cap (a
  // busy machine once ran out of a 20 s window before the second sample, which failed the run).
  durationMs: 180_000,
  maxRequests: 3_000,
  // Sampled once the heap has warmed up (after 1.5k requests), and again after 3k.
  rssCheckpoints: [1_500, 3_000],
  // Only 1.5k requests apart, RSS after a GC moved by a factor of 0.96 to 1.11 over 12 runs of one
  // tree: 10% is noise at this length. A leak still shows here; the full run keeps the 10% bound.
  maxRssRatio: 1.2,
  seedJobs: 1_000,
};

export interface StressResult {
  report: LoadReport;
  violations: string[];
  summary: string;
}

/** The Python client's way in: a 401 with WWW-Authenticate first, then POST /v1/token. */
function authorizer(creds: Credentials, issued: Set<string>): (baseUrl: string) => Promise<string> {
  return async (baseUrl) => {
    const res = await fetch(`${baseUrl}/v1/jobs`);
    await res.arrayBuffer();
    if (res.status !== 401 || !res.headers.get("www-authenticate")) {
      throw new Error(`expected 401 with WWW-Authenticate before login, got ${res.status}`);
    }
    const token = await fetchAccessToken(baseUrl, creds);
    issued.add(token);
    return `Bearer ${token}`;
  };
}

/** The secret values that occur in text. */
export function secretsIn(text: string, secrets: Iterable<string>): string[] {
  return [...secrets].filter((s) => s.length > 0 && text.includes(s));
}

export async function runStress(profile: StressProfile): Promise<StressResult> {
  const broker = await startBroker();
  const creds = randomCredentials();
  const issued = new Set<string>();
  let sidecar: ChildSidecar | undefined;
  try {
    sidecar = await startChildSidecar(sidecarEnv(broker.uri, broker.size, creds));
    const report = await runLoad({
      baseUrl: sidecar.url,
      clients: profile.clients,
      durationMs: profile.durationMs,
      maxRequests: profile.maxRequests,
      rssCheckpoints: profile.rssCheckpoints,
      sampleRss: async () => (await sidecar!.probe()).rss,
      authorize: authorizer(creds, issued),
      command: "echo stress",
      seedJobs: profile.seedJobs,
    });
    await sidecar.stop();
    const logs = sidecar.output();
    const leaked = secretsIn(logs, [creds.token, creds.secretKey, ...issued]);
    const violations: string[] = [];
    if (report.errors > 0) violations.push(`${report.errors} requests failed`);
    if (report.lost.length > 0) violations.push(`${report.lost.length} submitted jobs missing from the listing and unknown by id`);
    if (report.rss.last.requests <= report.rss.first.requests) violations.push("the run was too short to sample RSS twice");
    if (report.rss.ratio > profile.maxRssRatio) violations.push(`RSS grew by a factor of ${report.rss.ratio.toFixed(3)} (limit ${profile.maxRssRatio})`);
    if (leaked.length > 0) violations.push(`${leaked.length} secret value(s) found in the sidecar's log output`);
    const lines = logs.split("\n").filter(Boolean).length;
    const summary = `${formatReport(report, `${profile.label}, ${profile.clients} clients, ${broker.kind} broker`)}\n  log lines scanned ${lines}, secret values found ${leaked.length}`;
    return { report, violations, summary };
  } finally {
    await sidecar?.stop();
    await broker.stop();
  }
}
