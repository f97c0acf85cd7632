/** Reassembles output chunks into whole lines, one buffer per (stream, rank). */
import type { OutputLine } from "./types";

export class LineAssembler {
  private readonly partial = new Map<string, { stream?: string; rank?: string; text: string }>();

  /** Feeds a chunk and returns the lines it completed. */
  push(data: string, stream?: string, rank?: string): OutputLine[] {
    const key = `${stream ?? ""}:${rank ?? ""}`;
    const text = (this.partial.get(key)?.text ?? "") + data;
    const pieces = text.split("\n");
    const rest = pieces.pop() ?? "";
    if (rest) this.partial.set(key, { stream, rank, text: rest });
    else this.partial.delete(key);
    return pieces.map((line) => ({ line, stream, rank }));
  }

  /** The unterminated tails, once the output is over. */
  flush(): OutputLine[] {
    const lines = [...this.partial.values()].map(({ stream, rank, text }) => ({ line: text, stream, rank }));
    this.partial.clear();
    return lines;
  }
}
