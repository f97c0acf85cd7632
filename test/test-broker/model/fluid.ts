/**
 * FLUID job ids (RFC 19) as job-ingest makes them: 40 bits of milliseconds since the instance's
 * epoch, 14 bits of generator id (0 on rank 0), 10 bits of sequence. The clock counts instance
 * uptime, so `startMs` lets a test start past 2^29 ms, where ids exceed 2^53.
 */
export class FluidGenerator {
  private readonly origin = Date.now();
  private lastMs = -1;
  private seq = 0;

  constructor(
    private readonly startMs = 0,
    private readonly generatorId = 0,
  ) {}

  next(): bigint {
    let ms = this.startMs + (Date.now() - this.origin);
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      if (++this.seq >= 1024) {
        // sequence exhausted within one millisecond: borrow the next millisecond, like fluid_generate
        ms = this.lastMs + 1;
        this.seq = 0;
      }
    } else {
      this.seq = 0;
    }
    this.lastMs = ms;
    return (BigInt(ms) << 24n) | (BigInt(this.generatorId) << 10n) | BigInt(this.seq);
  }
}
