/** Reads a streaming HTTP body in the background so a test can wait for text or for the end. */
export interface StreamEnd {
  /** Set when the body broke off (connection cut, truncated chunked encoding) instead of ending. */
  error?: Error;
  atMs: number;
}

export class StreamReader {
  text = "";
  readonly ended: Promise<StreamEnd>;
  private waiters: Array<() => void> = [];

  constructor(readonly response: Response) {
    this.ended = this.pump();
  }

  private async pump(): Promise<StreamEnd> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        this.text += decoder.decode(chunk, { stream: true });
        for (const wake of this.waiters.splice(0)) wake();
      }
      return { atMs: performance.now() };
    } catch (err) {
      return { error: err as Error, atMs: performance.now() };
    } finally {
      for (const wake of this.waiters.splice(0)) wake();
    }
  }

  /** Resolves once the text received so far satisfies `predicate`; rejects after timeoutMs or at the end. */
  async waitFor(predicate: (text: string) => boolean, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let finished = false;
    void this.ended.then(() => (finished = true));
    while (!predicate(this.text)) {
      if (finished) throw new Error(`stream ended without the expected text; got ${JSON.stringify(this.text.slice(-300))}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`expected text not received within ${timeoutMs} ms; got ${JSON.stringify(this.text.slice(-300))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await Promise.resolve(); // let `finished` settle
    }
  }

  /** Resolves with how the stream ended, or rejects when it is still open after timeoutMs. */
  async endWithin(timeoutMs: number): Promise<StreamEnd> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`stream still open after ${timeoutMs} ms; got ${JSON.stringify(this.text.slice(-300))}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
