/**
 * A server that lies about files, for the CLI's download tests: it runs every job at once
 * (job 1, completed), lists in the job's directory the names a hostile server could send ("..",
 * "../x", "a/b", backslashes, control characters) beside one honest file, and serves every file
 * with a content-disposition naming a path outside the destination. Its OpenAPI document lists
 * submit's `files`, as our sidecar's does. Records the paths it was asked for.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const HONEST_NAME = "result.txt";
export const HOSTILE_NAMES = ["..", ".", "../escaped.txt", "../../escaped.txt", "sub/inner.txt", "back\\slash.txt", "bell\u0007.txt", ""];

export class HostileFilesServer {
  readonly downloads: string[] = [];
  private readonly server: Server;
  url = "";

  constructor(private readonly jobDir = "jobs/20261203T000000Z-0badf00d") {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      };
      req.resume();
      const path = url.pathname;
      if (path === "/openapi.json") {
        const schema = { type: "object", properties: { command: {}, files: {}, script: {}, name: {} } };
        return send(200, { paths: { "/v1/jobs/submit": { post: { requestBody: { content: { "application/json": { schema } } } } } } });
      }
      if (path === "/v1/jobs/submit") return send(200, { Message: "Job submit.", id: 1 });
      if (path === "/v1/jobs/1") return send(200, { id: 1, state: "INACTIVE", result: "COMPLETED", returncode: 0, t_submit: 1, t_run: 2, t_cleanup: 3, t_inactive: 4 });
      if (path === "/v1/jobs/1/output") return send(200, { Output: [] });
      if (path === "/v1/jobs/1/files") {
        const entry = (name: string) => ({ name, type: "file", size: 7, mtime: 1764720000, mode: 0o644 });
        return send(200, { id: 1, path: this.jobDir, entries: [...HOSTILE_NAMES, HONEST_NAME].map(entry), truncated: false });
      }
      if (path === "/v1/files/content") {
        const file = url.searchParams.get("path") ?? "";
        this.downloads.push(file);
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename="../../planted.txt"; filename*=UTF-8''..%2F..%2Fplanted.txt`,
        });
        return res.end(`content of ${file}\n`);
      }
      send(404, { detail: "Not Found" });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
