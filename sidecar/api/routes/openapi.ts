/** GET /openapi.json (OpenAPI 3.0 document) and GET /docs (a plain HTML rendering of it). */
import type { ApiApp } from "../deps";
import { jsonResponse } from "../json";

type Param = [name: string, where: "query" | "path" | "header", type: "string" | "integer" | "boolean", description: string, required?: boolean];

const jobId: Param = ["id", "path", "string", "Job id: decimal or F58 (ƒ… / f…), also hex or dotted hex"];
const json = (description: string) => ({ description, content: { "application/json": { schema: { type: "object" } } } });
const errors = {
  "400": json("Invalid input: {Message} or {Message, Errors[]}"),
  "401": json("Not authenticated (WWW-Authenticate: Bearer)"),
  "404": json("Unknown job"),
  "422": json("A parameter has the wrong type (FastAPI's {detail:[{loc,msg,type}]})"),
  "503": json("The Flux broker is not reachable"),
};

const filePath = (description: string, required = true): Param => [
  "path",
  "query",
  "string",
  `${description}: "/"-separated, no "..", not absolute, no control characters; symlinks may not lead out of the workspace (403)`,
  required,
];
const fileErrors = {
  "400": json("{detail}: a bad path"),
  "401": json("Not authenticated (WWW-Authenticate: Bearer)"),
  "403": json('{"detail": "path leaves the workspace"}'),
  "404": json("{detail: \"no such file or directory: PATH\"}"),
  "501": json('{"detail": "no workspace: FLUX_WORKSPACE is not set"}'),
};

const fileref = {
  oneOf: [
    { type: "string", description: "UTF-8 text, mode 0600" },
    {
      type: "object",
      required: ["data"],
      properties: {
        data: { description: "The content: text in `encoding`, or without encoding a JSON value written as JSON" },
        encoding: { type: "string", enum: ["utf-8", "base64"] },
        mode: { oneOf: [{ type: "integer" }, { type: "string", pattern: "^0?[0-7]{1,3}$" }], description: "Permission bits (default 0600)" },
      },
    },
  ],
};

/** The submit object of a JSON body (the body is read as envars when it has neither command nor script). */
const submitJsonSchema = {
  type: "object",
  properties: {
    command: { oneOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] },
    num_tasks: { type: "integer" },
    cores_per_task: { type: "integer" },
    gpus_per_task: { type: "integer" },
    num_nodes: { type: "integer" },
    exclusive: { type: "boolean" },
    option_flags: { oneOf: [{ type: "string" }, { type: "object", additionalProperties: { type: "string" } }] },
    workdir: { type: "string", description: "Absolute: as given. Relative: inside the workspace (made if missing). Absent with a workspace: a new jobs/<time>-<hex> directory" },
    name: { type: "string" },
    runtime: { type: "integer" },
    envars: { type: "object", additionalProperties: { type: "string" } },
    script: { type: "string", description: "A batch script (starts with #!); excludes command" },
    script_args: { type: "array", items: { type: "string" } },
    files: { type: "object", additionalProperties: fileref },
  },
};

function op(summary: string, params: Param[], ok: { description: string; content?: object }, extra: object = {}) {
  return {
    summary,
    parameters: params.map(([name, where, type, description, required]) => ({ name, in: where, required: required ?? where === "path", description, schema: { type } })),
    responses: { "200": ok, ...errors },
    ...extra,
  };
}

const sse = (description: string) => ({ description, content: { "text/event-stream": { schema: { type: "string" } } } });
const submitParams: Param[] = [
  ["command", "query", "string", "Command line (shell-split) — required"],
  ["num_tasks", "query", "integer", "Number of tasks (>= 1)"],
  ["cores_per_task", "query", "integer", "Cores per task (>= 1)"],
  ["gpus_per_task", "query", "integer", "GPUs per task (needs FLUX_HAS_GPUS)"],
  ["num_nodes", "query", "integer", "Number of nodes (<= FLUX_NUMBER_NODES)"],
  ["exclusive", "query", "boolean", "Exclusive node allocation (needs num_nodes)"],
  ["option_flags", "query", "string", "Shell options as k=v,k2=v2 (keys without -o)"],
  ["workdir", "query", "string", "Working directory"],
  ["name", "query", "string", "Job name (default: the command's basename)"],
  ["runtime", "query", "integer", "Time limit in seconds (0 = unlimited)"],
  ["script", "query", "string", "A batch script (must start with #!): the job runs it the way `flux batch` does, in a Flux instance of its own on the allocation; `command` must then be absent. Default name \"batch\"; num_tasks (slots) defaults to num_nodes, exclusive"],
  ["script_args", "query", "string", "With script: its arguments, a JSON array of strings"],
  [
    "files",
    "query",
    "string",
    "Files for the job (usually in the JSON body): {NAME: text} or {NAME: {data, encoding: \"utf-8\"|\"base64\", mode: 420|\"0644\"}}. " +
      "The job shell writes them into FLUX_JOB_TMPDIR on every node before the tasks start; commands name them {{tmpdir}}/NAME. " +
      "NAME: relative, 1-8 parts of 1-255 bytes, no . or .., no control characters or backslash, at most 1024 bytes. Default mode 0600. " +
      "Limits: FLUX_MAX_JOB_FILES files and FLUX_MAX_JOB_FILES_BYTES decoded bytes per job (413 past them)",
  ],
  [
    "Idempotency-Key",
    "header",
    "string",
    "Makes retries safe (draft-ietf-httpapi-idempotency-key-header): 1-128 characters of A-Z a-z 0-9 . _ ~ : + / = -, e.g. a UUID, " +
      "optionally in double quotes. The same key with the same request, within FLUX_IDEMPOTENCY_WINDOW_SECONDS, answers the same job " +
      "(header Idempotent-Replayed: true) and never creates a second one; with a different request it is a 422",
  ],
];

export const openApiDocument = {
  openapi: "3.0.3",
  info: {
    title: "Flux RESTful API (sidecar)",
    version: "1",
    description:
      "A drop-in flux-restful-api v1 server speaking Flux's wire protocol. Every field of a submit may also come " +
      "from a JSON body (the submit object, or an envars object) or a form body.",
  },
  components: {
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
      basic: { type: "http", scheme: "basic", description: "FLUX_USER:FLUX_TOKEN" },
      session: { type: "apiKey", in: "cookie", name: "flux_session", description: "Browser session; unsafe methods need X-CSRF-Token" },
    },
  },
  security: [{ bearer: [] }, { basic: [] }, { session: [] }],
  paths: {
    "/v1/jobs": {
      get: op("List jobs", [
        ["details", "query", "boolean", "Job info objects keyed by id"],
        ["listing", "query", "boolean", "With details: a list instead of an object"],
        ["limit", "query", "integer", "With details: at most this many jobs"],
      ], json("{jobs:[…]} | {<id>: jobinfo} | [jobinfo]")),
    },
    "/v1/jobs/search": {
      get: op("DataTables-style job search", [
        ["start", "query", "integer", "Skip this many jobs"],
        ["length", "query", "integer", "At most this many jobs (-1 = all)"],
        ["search[value]", "query", "string", "Regular expression over each job's values"],
        ["draw", "query", "integer", "Echoed back"],
      ], json("{data, draw, recordsTotal, recordsFiltered}")),
    },
    "/v1/jobs/submit": {
      post: op("Submit a job", submitParams, json('{"Message":"Job submit.","id":<integer>}'), {
        responses: {
          "200": json('{"Message":"Job submit.","id":<integer>}'),
          ...errors,
          "400": json("Invalid input: {Message} or {Message, Errors[]}, or an invalid Idempotency-Key ({detail})"),
          "422": json("A parameter has the wrong type, or the Idempotency-Key was used for a different request ({detail})"),
          "504": json(
            'The broker did not answer in time and the job may exist: {detail, outcome:"unknown", idempotency_key} (retry with the same key) ' +
              "or, without a key, {detail, outcome:\"unknown\", check:{path, name, submitted_after}} (look for the job before resubmitting)",
          ),
        },
        requestBody: {
          required: false,
          content: {
            "application/json": { schema: submitJsonSchema },
            "application/x-www-form-urlencoded": { schema: { type: "object" } },
            "multipart/form-data": {
              schema: {
                type: "object",
                properties: {
                  script: { type: "string", format: "binary", description: "The batch script (one part)" },
                  files: { type: "array", items: { type: "string", format: "binary" }, description: "Input files (repeatable); each part's filename is the NAME, mode 0600" },
                  file_modes: { type: "string", description: 'JSON object NAME -> mode, e.g. {"run.sh":"0755"}' },
                },
              },
            },
          },
        },
      }),
    },
    "/v1/jobs/{id}/files": {
      get: op("The listing of the job's working directory, when it lies in the workspace", [jobId], json('{id, path:"jobs/...", entries:[{name,type,size,mtime,mode}], truncated}'), {
        responses: { "200": json('{id, path, entries:[{name,type,size,mtime,mode}], truncated}'), ...fileErrors, "404": json("Unknown job, or {detail: \"job <id> has no working directory in the workspace\"}") },
      }),
    },
    "/v1/files": {
      get: op("List a workspace directory (sorted by name; at most FLUX_MAX_LIST_ENTRIES entries, then truncated: true)", [filePath("Directory relative to the workspace; empty = the workspace", false)], json('{path, entries:[{name, type:"file"|"directory"|"symlink"|"other", size, mtime, mode}], truncated}'), {
        responses: { "200": json("{path, entries, truncated}"), ...fileErrors, "400": json("{detail}: a bad path, or a file") },
      }),
    },
    "/v1/files/content": {
      get: op("Download a workspace file (streamed; content-type application/octet-stream, content-disposition attachment, nosniff, CSP sandbox)", [filePath("File relative to the workspace")], { description: "The file's bytes", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, {
        responses: { "200": { description: "The file's bytes", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, ...fileErrors, "400": json("{detail}: a bad path, or a directory") },
      }),
      put: op("Upload a workspace file (any content type; parents created; written to a temporary file then renamed)", [filePath("File relative to the workspace"), ["mode", "query", "string", "Permission bits, octal (default 0644)"]], json("{path, size, mode}"), {
        responses: { "201": json("{path, size, mode}"), ...fileErrors, "409": json("{detail}: the path is a directory"), "413": json("{detail}: over FLUX_MAX_UPLOAD_BYTES (nothing is left behind)") },
        requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
      }),
      delete: op("Delete a workspace file (not a directory)", [filePath("File relative to the workspace")], { description: "Deleted" }, {
        responses: { "204": { description: "Deleted" }, ...fileErrors, "409": json("{detail}: the path is a directory") },
      }),
    },
    "/v1/jobs/{id}": { get: op("Job info", [jobId], json("Job info (flux-restful-api shape)")) },
    "/v1/jobs/{id}/events": {
      get: op("Job eventlog as Server-Sent Events: `event: eventlog` data {name, timestamp, context}…, then `event: end` after `clean`", [jobId], sse("Event stream")),
    },
    "/v1/jobs/{id}/output": { get: op("Output so far (never waits)", [jobId], json('{"Output":[lines]} or {"Message":"The output does not exist yet, …"}')) },
    "/v1/jobs/{id}/output/stream": {
      get: op("Output as chunked text until it ends", [jobId], { description: "Raw output", content: { "text/plain": { schema: { type: "string" } } } }),
    },
    "/v1/jobs/{id}/output/events": {
      get: op("Output as Server-Sent Events: `event: output` data {stream, rank, data}…, then `event: end`", [jobId], sse("Event stream")),
    },
    "/v1/jobs/{id}/cancel": { post: op("Cancel a job", [jobId], json('{"Message":"Job is requested to cancel.","id":"<id>"}')) },
    "/v1/nodes": { get: op("Up nodes", [], json('{"nodes":[hostnames]}')) },
    "/v1/cluster": {
      get: op("Cluster summary: nodes up/down/allocated/free, cores and GPUs, and the submit limits", [], json("{up, down, allocated, free, cores:{total,up,allocated}, gpus:{total,up,allocated}, limits:{maxNodes, gpus}, fluxVersion}")),
    },
    "/v1/token": {
      post: op("Exchange an HS256 JWT {user, pass, scope:'token'} signed with FLUX_SECRET_KEY (as Bearer) for an access token", [], json('{"access_token","token_type":"Bearer"}'), { security: [] }),
    },
    "/v1/service/stop": { post: op("Stop this server (superuser; always needs credentials)", [], json("{Message}")) },
    "/ui/login": { post: op("Browser login {user, token} (JSON or form): sets the session cookie", [], json("{user, csrfToken}"), { security: [] }) },
    "/ui/logout": { post: op("Browser logout: clears the session cookie", [], json("{authRequired, user:null, csrfToken:null}"), { security: [] }) },
    "/ui/session": { get: op("Current browser session", [], json("{authRequired, user|null, csrfToken|null}"), { security: [] }) },
    "/healthz": { get: op("The process is up", [], json('{"status":"ok"}'), { security: [] }) },
    "/readyz": { get: op("The broker answers, with its flux-core version (else 503 with the reason)", [], json('{"status":"ready","uri","fluxVersion"}'), { security: [] }) },
    "/metrics": { get: op("Prometheus metrics", [], { description: "text/plain; version=0.0.4" }) },
  },
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function renderDocs(): string {
  const rows = Object.entries(openApiDocument.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, spec]) => {
      const s = spec as ReturnType<typeof op>;
      const ok = Object.keys(s.responses).find((status) => status.startsWith("2")) ?? "200";
      const params = s.parameters.map((p) => `<li><code>${escapeHtml(p.name)}</code> (${p.in}, ${p.schema.type}) ${escapeHtml(p.description)}</li>`).join("");
      return `<section><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2><p>${escapeHtml(s.summary)}</p>` +
        `${params ? `<ul>${params}</ul>` : ""}<p>${ok}: ${escapeHtml((s.responses as Record<string, { description: string }>)[ok].description)}</p></section>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Flux RESTful API</title>` +
    `<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}h2{font-size:1.05rem}code{background:#f3f3f3;padding:0 .2rem}</style>` +
    `</head><body><h1>${escapeHtml(openApiDocument.info.title)}</h1><p>${escapeHtml(openApiDocument.info.description)}</p>` +
    `<p>Machine-readable: <a href="openapi.json">openapi.json</a></p>${rows.join("")}</body></html>`;
}

export function registerOpenApi(app: ApiApp): void {
  const docs = renderDocs();
  app.get("/openapi.json", () => jsonResponse(openApiDocument), { access: "public" });
  app.get("/docs", () => ({ status: 200, headers: { "content-type": "text/html; charset=UTF-8" }, body: docs }), { access: "public" });
}
