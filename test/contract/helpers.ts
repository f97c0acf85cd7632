/** Shared steps of the contract suite: one broker per suite, jobs run to completion, output gathered. */
import { buildJobspec, FluxClient, type JobRecord, type JobspecOptions, type OutputEvent } from "../../sidecar/flux";
import { startBroker, type BrokerHandle, type StartBrokerOptions } from "../support/broker";

/** Environment for contract jobs: enough to find sh/sleep/printf on both brokers. */
export const JOB_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" };

export function jobspec(command: string[], opts: Omit<JobspecOptions, "command"> = {}) {
  return buildJobspec({ environment: JOB_ENV, ...opts, command });
}

export interface ContractContext {
  broker: BrokerHandle;
  client: FluxClient;
}

/** Registers before/after hooks that start one broker and client for the enclosing describe. */
export function useBroker(opts: StartBrokerOptions = {}): ContractContext {
  const ctx = {} as ContractContext;
  before(async function () {
    this.timeout(30000);
    ctx.broker = await startBroker(opts);
    ctx.client = new FluxClient({ uri: ctx.broker.uri, timeoutMs: 15000 });
  });
  after(async () => {
    await ctx.client?.close();
    await ctx.broker?.stop();
  });
  return ctx;
}

/** Follows the main eventlog to its end (clean) and returns the event names. */
export async function waitForClean(client: FluxClient, id: bigint): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of client.eventlog(id, { follow: true })) names.push(entry.name);
  return names;
}

/** Follows the eventlog until `name` appears; returns its context. */
export async function waitForEvent(client: FluxClient, id: bigint, name: string): Promise<Record<string, unknown>> {
  for await (const entry of client.eventlog(id, { follow: true })) if (entry.name === name) return entry.context ?? {};
  throw new Error(`eventlog of ${id} ended without ${name}`);
}

export async function runJob(client: FluxClient, spec: ReturnType<typeof jobspec>): Promise<{ id: bigint; events: string[]; record: JobRecord }> {
  const id = await client.submit(spec);
  const events = await waitForClean(client, id);
  return { id, events, record: await client.getJob(id) };
}

/** Output events of a job, followed to the end. */
export async function collectOutput(client: FluxClient, id: bigint): Promise<OutputEvent[]> {
  const events: OutputEvent[] = [];
  for await (const e of client.output(id, { follow: true })) events.push(e);
  return events;
}

/** Joined data per "stream/rank", e.g. out.get("stdout/0"). */
export function textByStreamAndRank(events: OutputEvent[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of events) if (e.kind === "data") out.set(`${e.stream}/${e.rank}`, (out.get(`${e.stream}/${e.rank}`) ?? "") + e.data);
  return out;
}
