/**
 * An RFC 18 eventlog as the KVS holds it: append-only lines of
 * `{"timestamp":f,"name":s[,"context":{...}]}\n`, plus watchers that see every new line and are
 * told when the log is complete (the job reached `clean`, or its guest namespace was closed).
 */
import { stringifyJson } from "../../../sidecar/flux/json";

export type EventlogListener = {
  onEntry(line: string): void;
  /** The log will not grow any more. */
  onEnd(): void;
};

/** Seconds since the epoch with microsecond resolution, like the broker's eventlog timestamps. */
export function eventTimestamp(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1e6;
}

export class Eventlog {
  private readonly lines: string[] = [];
  private readonly listeners = new Set<EventlogListener>();
  private complete = false;

  append(name: string, context?: Record<string, unknown>, timestamp = eventTimestamp()): string {
    if (this.complete) throw new Error(`eventlog is complete; cannot append ${name}`);
    const entry: Record<string, unknown> = { timestamp, name };
    if (context !== undefined) entry.context = context;
    const line = stringifyJson(entry) + "\n";
    this.lines.push(line);
    for (const l of [...this.listeners]) l.onEntry(line);
    return line;
  }

  /** Marks the log complete and ends every watch. */
  finish(): void {
    if (this.complete) return;
    this.complete = true;
    for (const l of [...this.listeners]) l.onEnd();
    this.listeners.clear();
  }

  text(): string {
    return this.lines.join("");
  }

  /**
   * Replays the current lines to the listener, then follows. Returns an unsubscribe function.
   * `afterReplay` runs between the replay and the first live line (INITIAL_SENTINEL).
   */
  watch(listener: EventlogListener, afterReplay?: () => void): () => void {
    for (const line of this.lines) listener.onEntry(line);
    afterReplay?.();
    if (this.complete) {
      listener.onEnd();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
