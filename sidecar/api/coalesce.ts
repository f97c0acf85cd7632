/**
 * Coalesces concurrent identical reads into shared broker calls without serving stale data:
 * a caller never joins a call that started before it arrived. While one call is in flight,
 * every newcomer waits for the single next call, which starts when the current one ends.
 * Under load (say 8 clients listing 1000 jobs) one job-list RPC and one serialisation serve
 * them all instead of each paying for its own.
 */
export class NextFlight<T> {
  private inFlight?: Promise<T>;
  private queued?: Promise<T>;

  constructor(private readonly call: () => Promise<T>) {}

  run(): Promise<T> {
    if (!this.inFlight) return this.start();
    const settle = () => {
      this.queued = undefined;
      return this.start();
    };
    this.queued ??= this.inFlight.then(settle, settle);
    return this.queued;
  }

  private start(): Promise<T> {
    const flight = this.call();
    this.inFlight = flight;
    const clear = () => {
      if (this.inFlight === flight) this.inFlight = undefined;
    };
    flight.then(clear, clear);
    return flight;
  }
}
