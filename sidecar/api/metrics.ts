/** Prometheus metrics on a registry per server (tests run several servers in one process). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ConnectionGate } from "./connections";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "flux_sidecar_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "flux_sidecar_http_request_duration_seconds",
    help: "HTTP request latency (time to response headers)",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly openStreams = new Gauge({
    name: "flux_sidecar_open_streams",
    help: "Output and event streams currently open",
    registers: [this.registry],
  });
  readonly brokerUp = new Gauge({
    name: "flux_sidecar_broker_up",
    help: "1 when the last broker call succeeded, 0 when the broker was unavailable",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "flux_sidecar_" });
  }

  /** Idempotency keys held, read when scraped. */
  trackIdempotencyKeys(keys: { readonly size: number }): void {
    new Gauge({ name: "flux_sidecar_idempotency_keys", help: "Idempotency-Key entries of submits currently remembered", registers: [this.registry], collect() {
      this.set(keys.size);
    } });
  }

  /** Connection counts, read from the gate when scraped. */
  trackConnections(gate: ConnectionGate): void {
    const registers = [this.registry];
    new Gauge({ name: "flux_sidecar_connections_open", help: "Open HTTP connections", registers, collect() {
      this.set(gate.openConnections);
    } });
    new Gauge({ name: "flux_sidecar_connections_refused", help: "Connections refused at the caps since start", registers, collect() {
      this.set(gate.refused);
    } });
    new Gauge({ name: "flux_sidecar_connections_stalled", help: "Connections closed because the client read none of its answers in time, since start", registers, collect() {
      this.set(gate.stalled);
    } });
    new Gauge({ name: "flux_sidecar_connections_evicted", help: "Idle connections closed to admit new ones since start", registers, collect() {
      this.set(gate.evicted);
    } });
  }
}
