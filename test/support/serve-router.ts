/** Serves a Router on a loopback port with the sidecar's listener, for tests of a few routes. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { errorResponse, notFound } from "../../sidecar/api/errors";
import { createListener, type Router } from "../../sidecar/api/http";
import { createLogger } from "../../sidecar/log";

export interface ServedRouter {
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function serveRouter(router: Router): Promise<ServedRouter> {
  const log = createLogger({ level: "silent", secrets: [] });
  const server = createServer(
    createListener(router, {
      maxBodyBytes: 1 << 20,
      maxStreams: 64,
      shutdownSignal: new AbortController().signal,
      notFound,
      errorReply: (err, req) => errorResponse(err, log, req),
      replied: () => undefined,
      streamOpened: () => undefined,
      streamClosed: () => undefined,
      streamFailed: () => undefined,
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    request: (path, init) => fetch(`${base}${path}`, init),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
