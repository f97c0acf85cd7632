/**
 * Job eventlogs and output (flux-core modules/job-info: lookup.c, watch.c, guest_watch.c;
 * RFC 18 eventlogs, RFC 24 output). Snapshots use job-info.lookup (one reply with the log as
 * it is now); follow mode uses the streaming job-info.eventlog-watch, which ends with ENODATA.
 */
import { Errno, FluxError } from "../errors";
import { parseJson } from "../json";
import { classifyJobError, withJobErrors } from "./errors";
import { isNumber, isObject, isString, type Rpc } from "./rpc";

export interface EventlogEntry {
  timestamp: number;
  name: string;
  context?: Record<string, unknown>;
}

export type OutputStream = "stdout" | "stderr";

export type OutputEvent =
  | { kind: "data"; stream: OutputStream; rank: string; data: string; eof?: boolean }
  | { kind: "log"; rank: number; level: number; message: string; component?: string }
  | { kind: "redirect"; stream: OutputStream; rank: string; path: string };

export interface EventlogOptions {
  follow?: boolean;
  /** "eventlog" (default), "guest.exec.eventlog", "guest.output", ... */
  path?: string;
  signal?: AbortSignal;
}

/** One RFC 18 eventlog line (JSON object, trailing newline optional). */
export function parseEventlogLine(line: string): EventlogEntry {
  const value = parseJson(line);
  if (!isObject(value) || !isNumber(value.timestamp) || !isString(value.name)) {
    throw new TypeError(`malformed eventlog entry: ${line.trim().slice(0, 200)}`);
  }
  const entry: EventlogEntry = { timestamp: value.timestamp, name: value.name };
  if (isObject(value.context)) entry.context = value.context;
  return entry;
}

/** Every entry of an eventlog's text (newline-separated lines). */
export function parseEventlog(text: string): EventlogEntry[] {
  return text.split("\n").filter((line) => line.trim() !== "").map(parseEventlogLine);
}

/** The raw text of one of the job's KVS keys; FluxError ENOENT when the job or the key is missing. */
export async function lookupKey(rpc: Rpc, id: bigint, key: string): Promise<string> {
  const reply = await rpc.call("job-info.lookup", { id, keys: [key], flags: 0 });
  const value = reply[key];
  if (!isString(value)) throw new TypeError(`job-info.lookup: reply has no string "${key}"`);
  return value;
}

async function* watch(rpc: Rpc, id: bigint, path: string, flags: number, signal?: AbortSignal): AsyncGenerator<EventlogEntry> {
  const stream = rpc.stream("job-info.eventlog-watch", { id, path, flags }, { signal });
  try {
    for await (const reply of stream) {
      if (!isString(reply.event)) continue; // INITIAL_SENTINEL replies (never requested) carry no event
      yield parseEventlogLine(reply.event);
    }
  } catch (err) {
    throw classifyJobError(err, { enoentMeansUnknown: true });
  }
}

/**
 * Entries of a job eventlog. Snapshot: what exists now, then the iterator ends. Follow: the
 * existing entries, then new ones until the log ends (the main eventlog ends after "clean").
 * Breaking out of the loop cancels the watch on the broker.
 */
export function eventlog(rpc: Rpc, id: bigint, opts: EventlogOptions = {}): AsyncGenerator<EventlogEntry> {
  const path = opts.path ?? "eventlog";
  if (opts.follow) return watch(rpc, id, path, 0, opts.signal);
  return (async function* () {
    yield* parseEventlog(await withJobErrors(lookupKey(rpc, id, path), { enoentMeansUnknown: true }));
  })();
}

/** Decodes RFC 24 output entries, keeping a UTF-8 decoder per stream and rank for base64 chunks. */
export class OutputDecoder {
  private decoders = new Map<string, TextDecoder>();

  decode(entry: EventlogEntry): OutputEvent | undefined {
    const ctx = entry.context ?? {};
    const stream = ctx.stream === "stderr" ? "stderr" : "stdout";
    switch (entry.name) {
      case "data": {
        const rank = String(ctx.rank ?? "");
        const event: OutputEvent = { kind: "data", stream, rank, data: this.text(`${stream}/${rank}`, ctx) };
        if (ctx.eof === true) event.eof = true;
        return event;
      }
      case "log": {
        const event: OutputEvent = {
          kind: "log",
          rank: isNumber(ctx.rank) ? ctx.rank : Number(ctx.rank ?? -1),
          level: isNumber(ctx.level) ? ctx.level : 0,
          message: isString(ctx.message) ? ctx.message : "",
        };
        if (isString(ctx.component)) event.component = ctx.component;
        return event;
      }
      case "redirect":
        return { kind: "redirect", stream, rank: String(ctx.rank ?? ""), path: isString(ctx.path) ? ctx.path : "" };
      default:
        return undefined; // "header" and anything newer carry no output
    }
  }

  private text(key: string, ctx: Record<string, unknown>): string {
    const repeat = isNumber(ctx.repeat) && ctx.repeat > 1 ? ctx.repeat : 1;
    let decoder = this.decoders.get(key);
    let text: string;
    if (ctx.encoding === "base64") {
      if (!decoder) this.decoders.set(key, (decoder = new TextDecoder("utf-8")));
      const bytes = isString(ctx.data) ? Buffer.from(ctx.data, "base64") : Buffer.alloc(0);
      // repeat applies to the bytes, so build them before decoding
      text = decoder.decode(repeat > 1 ? Buffer.concat(Array(repeat).fill(bytes)) : bytes, { stream: ctx.eof !== true });
    } else {
      const pending = decoder ? decoder.decode() : ""; // flush a partial character left by base64 chunks
      text = pending + (isString(ctx.data) ? ctx.data.repeat(repeat) : "");
    }
    return text;
  }
}

async function* decodeOutput(entries: AsyncIterable<EventlogEntry> | Iterable<EventlogEntry>): AsyncGenerator<OutputEvent> {
  const decoder = new OutputDecoder();
  for await (const entry of entries) {
    const event = decoder.decode(entry);
    if (event) yield event;
  }
}

/**
 * Waits on the job's exec eventlog until its output is known to exist: true at "shell.init" (the
 * shells create guest.output before they log it), false at "complete" without it (the shells
 * ran but never logged init, so the output may not exist) or when the log ends without either
 * (the job never ran). Leaving the loop cancels the watch.
 */
async function outputCreated(rpc: Rpc, id: bigint, signal?: AbortSignal): Promise<boolean> {
  for await (const entry of watch(rpc, id, "guest.exec.eventlog", 0, signal)) {
    if (entry.name === "shell.init") return true;
    if (entry.name === "complete") return false;
  }
  return false;
}

/**
 * Waits on the job's exec eventlog until its shells run their tasks: true at "shell.start",
 * false at "complete" without it or when the log ends (the job never ran). Leaving the loop
 * cancels the watch.
 */
export async function tasksStarted(rpc: Rpc, id: bigint, signal?: AbortSignal): Promise<boolean> {
  for await (const entry of watch(rpc, id, "guest.exec.eventlog", 0, signal)) {
    if (entry.name === "shell.start") return true;
    if (entry.name === "complete") return false;
  }
  return false;
}

/**
 * A job's output (guest.output). Snapshot: what exists now (nothing if the job has not
 * started). Follow: once the output exists, streams it until it ends; for a job whose shells
 * never got that far, whatever exists when they are done.
 *
 * This is the order `flux job attach` follows. A single guest.output watch with WAITCREATE,
 * opened while the job is young, sometimes sends nothing and never ends on flux-core 0.88 (12
 * of 60 `echo` jobs with Flux's own Python bindings, 3 of 80 through our client), and one
 * without WAITCREATE at the main eventlog's "start" can come too early (ENOENT).
 */
export function output(rpc: Rpc, id: bigint, opts: Omit<EventlogOptions, "path"> = {}): AsyncGenerator<OutputEvent> {
  if (!opts.follow) return outputSnapshot(rpc, id);
  return (async function* () {
    if (await outputCreated(rpc, id, opts.signal)) yield* decodeOutput(watch(rpc, id, "guest.output", 0, opts.signal));
    else yield* outputSnapshot(rpc, id);
  })();
}

function outputSnapshot(rpc: Rpc, id: bigint): AsyncGenerator<OutputEvent> {
  return (async function* () {
    let text: string;
    try {
      text = await lookupKey(rpc, id, "guest.output");
    } catch (err) {
      if (err instanceof FluxError && err.errno === Errno.ENOENT) {
        // ENOENT for the output alone means "not started yet"; for the eventlog, an unknown job
        await withJobErrors(lookupKey(rpc, id, "eventlog"), { enoentMeansUnknown: true });
        return; // the job exists but its output does not yet
      }
      throw err;
    }
    yield* decodeOutput(parseEventlog(text));
  })();
}
