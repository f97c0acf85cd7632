/** What every route module gets: the shared service layer and the cross-cutting pieces. */
import type { SidecarConfig } from "../config";
import type { Logger } from "../log";
import type { Auth } from "./auth";
import type { Router } from "./http";
import type { Metrics } from "./metrics";
import type { FluxApiService } from "./service";

export type ApiApp = Router;

export interface ApiDeps {
  config: SidecarConfig;
  service: FluxApiService;
  auth: Auth;
  log: Logger;
  metrics: Metrics;
  /** Aborted when the server shuts down: open streams end. */
  shutdownSignal: AbortSignal;
  /** Starts a graceful shutdown after the current response has been sent. */
  requestStop(): void;
}
