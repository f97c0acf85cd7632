/**
 * The workspace's files: GET /v1/files (a listing), GET|PUT|DELETE /v1/files/content, and
 * GET /v1/jobs/{id}/files (the listing of a job's working directory). Paths come in the `path`
 * query parameter, parsed once (workspace.ts) into the segments every operation then uses.
 */
import type { ApiApp, ApiDeps } from "../deps";
import { ApiError } from "../errors";
import type { ApiRequest } from "../http";
import { jsonResponse } from "../json";
import { fsError, parseMode, parsePath, type Workspace } from "../workspace";

/** Bytes read from disk per chunk of a download: memory stays at about one chunk per download. */
const DOWNLOAD_CHUNK_BYTES = 64 * 1024;
const DEFAULT_UPLOAD_MODE = 0o644;

/** Whatever a browser is given, it saves; it never renders or runs it. */
const DOWNLOAD_HEADERS = {
  "content-type": "application/octet-stream",
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
  "cache-control": "no-store",
};

/** RFC 6266/8187: the file's name, percent-encoded, so no header can be forged through it. */
export function contentDisposition(name: string): string {
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename*=UTF-8''${encoded}`;
}

/** The operation, with file-system errors (EACCES, ENOSPC, ...) turned into their answers. */
function answering<T>(operation: Promise<T>, shown: string): Promise<T> {
  return operation.catch((err: unknown) => Promise.reject(fsError(err, shown)));
}

function noWorkspace(): ApiError {
  return new ApiError(501, { detail: "no workspace: FLUX_WORKSPACE is not set" });
}

/** The `path` parameter: its text (for answers) and its segments (for everything else). */
function pathOf(req: ApiRequest): { text: string; segments: string[] } {
  const text = req.query.path ?? "";
  return { text, segments: parsePath(text) };
}

/** The request body as it arrives (or as auth already read it for a form's CSRF field). */
async function* requestBody(req: ApiRequest): AsyncGenerator<Uint8Array> {
  const buffered = req.bufferedBody;
  if (buffered) {
    yield await buffered;
    return;
  }
  yield* req.raw as AsyncIterable<Buffer>;
}

export function registerFiles(app: ApiApp, { config, service, workspace }: ApiDeps): void {
  const need = (): Workspace => {
    if (!workspace) throw noWorkspace();
    return workspace;
  };

  app.get("/v1/files", async (req) => {
    const ws = need();
    const { text, segments } = pathOf(req);
    const listing = await answering(ws.list(segments, text), text);
    return jsonResponse({ path: text, entries: listing.entries, truncated: listing.truncated });
  });

  app.get("/v1/files/content", async (req) => {
    const ws = need();
    const { text, segments } = pathOf(req);
    if (segments.length === 0) throw new ApiError(400, { detail: "a file path is required" });
    const { handle, size } = await answering(ws.openForReading(segments, text), text);
    const close = () => void handle.close().catch(() => undefined);
    return {
      status: 200,
      headers: { ...DOWNLOAD_HEADERS, "content-length": String(size), "content-disposition": contentDisposition(segments[segments.length - 1]) },
      body: {
        // Exactly the size announced: a file that grows meanwhile is cut there, one that shrinks ends the response short.
        async *produce() {
          try {
            // HEAD: the headers (with the size) only
            let left = req.method === "HEAD" ? 0 : size;
            while (left > 0) {
              const chunk = Buffer.allocUnsafe(Math.min(DOWNLOAD_CHUNK_BYTES, left));
              const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
              if (bytesRead === 0) throw new Error(`${text} shrank while it was sent`);
              left -= bytesRead;
              yield chunk.subarray(0, bytesRead);
            }
          } finally {
            close();
          }
        },
        discard: close,
      },
    };
  });

  app.put(
    "/v1/files/content",
    async (req) => {
      try {
        const ws = need();
        const { text, segments } = pathOf(req);
        const mode = req.query.mode === undefined ? DEFAULT_UPLOAD_MODE : parseMode(req.query.mode);
        if (mode === undefined || mode > 0o777) throw new ApiError(400, { detail: `invalid mode ${JSON.stringify(req.query.mode)}: permission bits in octal, such as 0644` });
        if (segments.length === 0) throw new ApiError(400, { detail: "a file path is required" });
        const { size } = await answering(ws.write(segments, text, requestBody(req), mode), text);
        return jsonResponse({ path: text, size, mode }, 201);
      } catch (err) {
        // Refused (maybe before the body was read): close rather than read the rest of it.
        if (err instanceof ApiError) throw new ApiError(err.status, err.body, { ...err.headers, connection: "close" });
        throw err;
      }
    },
    { streamedBodyBytes: config.maxUploadBytes },
  );

  app.delete("/v1/files/content", async (req) => {
    const ws = need();
    const { text, segments } = pathOf(req);
    await answering(ws.remove(segments, text), text);
    return { status: 204, headers: {} };
  });

  app.get("/v1/jobs/:id/files", async (req) => {
    const ws = need();
    const record = await service.getJob(req.params.id);
    const id = req.params.id;
    const cwd = record.get("cwd");
    const segments = typeof cwd === "string" ? ws.segmentsOf(cwd) : undefined;
    if (!segments) throw new ApiError(404, { detail: `job ${id} has no working directory in the workspace` });
    const shown = segments.join("/");
    const listing = await answering(ws.list(segments, shown), shown);
    return jsonResponse({ id: record.get("id"), path: shown, entries: listing.entries, truncated: listing.truncated });
  });
}
