/** Prometheus metrics on a registry per server (tests run several servers in one process). */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import eventLoopLag from "prom-client/lib/metrics/eventLoopLag";
import heapSizeAndUsed from "prom-client/lib/metrics/heapSizeAndUsed";
import heapSpacesSizeAndUsed from "prom-client/lib/metrics/heapSpacesSizeAndUsed";
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap";
import processCpuTotal from "prom-client/lib/metrics/processCpuTotal";
import processHandles from "prom-client/lib/metrics/processHandles";
import processMaxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors";
import processOpenFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors";
import processRequests from "prom-client/lib/metrics/processRequests";
import processResources from "prom-client/lib/metrics/processResources";
import processStartTime from "prom-client/lib/metrics/processStartTime";
import version from "prom-client/lib/metrics/version";
import type { ConnectionGate } from "./connections";

/**
 * prom-client's default process metrics (collectDefaultMetrics) but its GC-duration histogram:
 * that one turns every garbage collection into a performance entry, and under load (hundreds of
 * young collections a second) those entries were about a third of what outlived the young
 * generation: 1.5-2 MiB more RSS after a burst of requests on Node 24.
 */
const PROCESS_METRICS = [
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  eventLoopLag,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
];

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
    for (const collect of PROCESS_METRICS) collect(this.registry, { prefix: "flux_sidecar_", eventLoopMonitoringPrecision: 10 });
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
