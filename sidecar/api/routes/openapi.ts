/** GET /openapi.json (OpenAPI 3.0 document) and GET /docs (a plain HTML rendering of it). */
import type { ApiApp } from "../deps";
import { jsonResponse } from "../json";

type Param = [name: string, where: "query" | "path" | "header", type: "string" | "integer" | "boolean", description: string];

const jobId: Param = ["id", "path", "string", "Job id: decimal or F58 (ƒ… / f…), also hex or dotted hex"];
const json = (description: string) => ({ description, content: { "application/json": { schema: { type: "object" } } } });
const errors = {
  "400": json("Invalid input: {Message} or {Message, Errors[]}"),
  "401": json("Not authenticated (WWW-Authenticate: Bearer)"),
  "404": json("Unknown job"),
  "422": json("A parameter has the wrong type (FastAPI's {detail:[{loc,msg,type}]})"),
  "503": json("The Flux broker is not reachable"),
};

function op(summary: string, params: Param[], ok: { description: string; content?: object }, extra: object = {}) {
  return {
    summary,
    parameters: params.map(([name, where, type, description]) => ({ name, in: where, required: where === "path", description, schema: { type } })),
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
        requestBody: { required: false, content: { "application/json": { schema: { type: "object" } }, "application/x-www-form-urlencoded": { schema: { type: "object" } } } },
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
      const params = s.parameters.map((p) => `<li><code>${escapeHtml(p.name)}</code> (${p.in}, ${p.schema.type}) ${escapeHtml(p.description)}</li>`).join("");
      return `<section><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2><p>${escapeHtml(s.summary)}</p>` +
        `${params ? `<ul>${params}</ul>` : ""}<p>200: ${escapeHtml(s.responses["200"].description)}</p></section>`;
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
