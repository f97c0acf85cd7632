/** What every route module gets: the shared service layer and the cross-cutting pieces. */
import type { SidecarConfig } from "../config";
import type { Logger } from "../log";
import type { Auth } from "./auth";
import type { Router } from "./http";
import type { Metrics } from "./metrics";
import type { FluxApiService } from "./service";
import type { Workspace } from "./workspace";

export type ApiApp = Router;

export interface ApiDeps {
  config: SidecarConfig;
  service: FluxApiService;
  /** FLUX_WORKSPACE; undefined when it is not set (the file routes answer 501). */
  workspace?: Workspace;
  auth: Auth;
  log: Logger;
  metrics: Metrics;
  /** Aborted when the server shuts down: open streams end. */
  shutdownSignal: AbortSignal;
  /** Starts a graceful shutdown after the current response has been sent. */
  requestStop(): void;
}
