// prom-client's default process collectors, one module each (its own types cover only its index).
declare module "prom-client/lib/metrics/*" {
  import type { Registry } from "prom-client";
  const collect: (registry: Registry, config: { prefix?: string; eventLoopMonitoringPrecision?: number }) => void;
  export = collect;
}
