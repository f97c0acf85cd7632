/**
 * The hostile-input table: one row per bad request, with the status and message the sidecar
 * must answer. Rows are data; hostile-input.spec.ts runs them all against one sidecar with auth
 * on. `message` is a substring (or pattern) of the JSON body; `null` marks answers that Node's
 * HTTP parser gives before the application sees the request (status only, no JSON body).
 */
import type { RawRequest } from "../support/raw-http";

export interface CaseContext {
  port: number;
  /** "Bearer <access token>" */
  authorization: string;
  /** Decimal id of a job that exists (finished). */
  jobId: string;
  nodes: number;
}

export interface HostileCase {
  category: string;
  name: string;
  /** A request (the Authorization header is added unless `anonymous`), or raw bytes. */
  request: (ctx: CaseContext) => RawRequest | { raw: string | Buffer };
  anonymous?: boolean;
  status: number;
  message: string | RegExp | null;
}

const NOT_FOUND = '"detail":"Not Found"';
const NO_COMMAND = "A 'command' is minimally required.";
const NOT_INT = "value is not a valid integer";
const NOT_BOOL = "value could not be parsed to a boolean";
const MALFORMED_JSON = "malformed JSON";
const INVALID_ID = /"Message":"Invalid job id: /;
const NO_JOB = /"Message":"There is no job with id /;

const get = (path: string) => () => ({ method: "GET", path });
const submitQuery = (query: string) => () => ({ method: "POST", path: `/v1/jobs/submit?${query}` });
const submitJson = (body: string, contentType = "application/json") => () => ({
  method: "POST",
  path: "/v1/jobs/submit",
  headers: { "content-type": contentType },
  body,
});
const submitForm = (body: string) => submitJson(body, "application/x-www-form-urlencoded");
const enc = encodeURIComponent;

/** A row as [name, request, status, message]: the compact form of the tables below. */
type Row = [name: string, request: HostileCase["request"], status: number, message: string | RegExp | null];

function rows(category: string, list: Row[]): HostileCase[] {
  return list.map(([name, request, status, message]) => ({ category, name, request, status, message }));
}

/** Rows that are all submit requests with a JSON body: [name, body, status, message]. */
function jsonRows(category: string, list: Array<[name: string, body: string, status: number, message: string]>): HostileCase[] {
  return rows(category, list.map(([name, body, status, message]): Row => [name, submitJson(body), status, message]));
}

function nested(depth: number, open: string, close: string, inner = "1"): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

const MAX_U64 = (1n << 64n) - 1n;

/** Malformed and deeply nested JSON bodies. */
const MALFORMED_BODIES: Array<[name: string, body: string]> = [
  ["unterminated object", "{"],
  ["missing value", '{"command":'],
  ["trailing comma", '{"command":"true",}'],
  ["single quotes", "{'command':'true'}"],
  ["bare word", "command=true"],
  ["unterminated array", "[1,2"],
  ["misspelt null", "nul"],
  ["trailing garbage after the object", '{"command":"true"}garbage'],
  ["NUL byte", "\u0000"],
  ["unescaped control character in a string", '{"command":"echo \u0001"}'],
  ["lone UTF-16 surrogate escape in a key", '{"\\ud800":1}x'],
  ["comment inside JSON", '{"command":"true" /* hi */}'],
  ["NaN literal", '{"command":"true","num_tasks":NaN}'],
  ["hex number", '{"command":"true","num_tasks":0x10}'],
];
const malformedJson = jsonRows("malformed JSON", MALFORMED_BODIES.map(([name, body]) => [name, body, 422, MALFORMED_JSON]));

const NOT_FLAT_ENV = "Environment variables must be key/value pairs (dict)";
const nestedJson = jsonRows("nested JSON", [
  ["array nested 100000 deep", nested(100_000, "[", "]"), 422, "value is not a valid dict"],
  // Without "command" the whole object is envars, which must be a flat mapping.
  ["object nested 50000 deep", nested(50_000, '{"a":', "}"), 400, NOT_FLAT_ENV],
  ["envars value nested 10000 deep", `{"command":"true","envars":${nested(10_000, "[", "]")}}`, 400, NOT_FLAT_ENV],
  // 64-bit integers switch to the lossless parser, which refuses this depth instead of overflowing.
  ["nested 20000 deep beside a 64-bit number", `{"command":"true","x":${nested(20_000, "[", "]", "123456789012345678901")}}`, 422, MALFORMED_JSON],
  ["command as a nested array", '{"command":[["echo"],["hi"]]}', 422, "str type expected"],
]);

/** Wrong types and values in submit fields (query string and JSON body). */
const wrongTypes = rows("wrong types and values", [
  ["no command at all", submitQuery(""), 400, NO_COMMAND],
  ["empty command", submitQuery("command="), 400, NO_COMMAND],
  ["blank command", submitQuery("command=%20%20%20"), 400, "There was an issue submitting that job."],
  ["unbalanced quote in command", submitQuery(`command=${enc('echo "hi')}`), 400, "No closing quotation"],
  ["trailing backslash in command", submitQuery(`command=${enc("echo hi\\")}`), 400, "No escaped character"],
  ["command as a JSON number", submitJson('{"command":42}'), 200, "Job submit."],
  ["command as a JSON object", submitJson('{"command":{"a":1}}'), 422, "str type expected"],
  ["command as JSON true", submitJson('{"command":true}'), 422, "str type expected"],
  ["command as an empty JSON array", submitJson('{"command":[]}'), 400, NO_COMMAND],
  ["command as JSON null", submitJson('{"command":null}'), 400, NO_COMMAND],
  ["num_tasks not a number", submitQuery("command=true&num_tasks=abc"), 422, NOT_INT],
  ["num_tasks fractional", submitQuery("command=true&num_tasks=1.5"), 422, NOT_INT],
  ["num_tasks exponent", submitQuery("command=true&num_tasks=1e3"), 422, NOT_INT],
  ["num_tasks hex", submitQuery("command=true&num_tasks=0x10"), 422, NOT_INT],
  ["num_tasks zero", submitQuery("command=true&num_tasks=0"), 400, "Parameter num_tasks must be >= 1"],
  ["num_tasks negative", submitQuery("command=true&num_tasks=-5"), 400, "Parameter num_tasks must be >= 1"],
  ["num_tasks 2^31", submitQuery("command=true&num_tasks=2147483648"), 422, "ensure this value is less than or equal to 2147483647"],
  ["num_tasks 2^64", submitQuery(`command=true&num_tasks=${MAX_U64 + 1n}`), 422, NOT_INT],
  ["num_tasks 400 digits", submitQuery(`command=true&num_tasks=${"9".repeat(400)}`), 422, NOT_INT],
  ["num_tasks as JSON float", submitJson('{"command":"true","num_tasks":2.5}'), 422, NOT_INT],
  ["num_tasks as JSON 1e309", submitJson('{"command":"true","num_tasks":1e309}'), 422, NOT_INT],
  ["num_tasks as JSON array", submitJson('{"command":"true","num_tasks":[1]}'), 422, NOT_INT],
  ["num_tasks as a huge JSON integer", submitJson(`{"command":"true","num_tasks":${"9".repeat(30)}}`), 422, NOT_INT],
  ["cores_per_task negative", submitQuery("command=true&cores_per_task=-1"), 400, "Parameter cores_per_task must be >= 1"],
  ["cores_per_task zero", submitQuery("command=true&cores_per_task=0"), 400, "Parameter cores_per_task must be >= 1"],
  ["gpus_per_task on a server without GPUs", submitQuery("command=true&gpus_per_task=1"), 400, "This server does not support gpus: gpus_per_task cannot be set."],
  ["num_nodes above the server's node count", (ctx) => submitQuery(`command=true&num_nodes=${ctx.nodes + 1}`)(), 400, "The server only has"],
  ["num_nodes more than tasks", submitQuery("command=true&num_nodes=2&num_tasks=1"), 400, "node count must not be greater than task count"],
  ["num_nodes negative", submitQuery("command=true&num_nodes=-1"), 400, "Parameter num_nodes must be >= 1"],
  ["runtime negative", submitQuery("command=true&runtime=-1"), 400, "Runtime must be >= 0, found -1"],
  ["runtime not a number", submitQuery("command=true&runtime=1h"), 422, NOT_INT],
  ["exclusive not a boolean", submitQuery("command=true&exclusive=maybe"), 422, NOT_BOOL],
  ["exclusive without a node count", submitQuery("command=true&exclusive=true"), 400, "exclusive can only be set with a node count"],
  ["is_launcher (not supported)", submitQuery("command=nextflow&is_launcher=true"), 400, "is_launcher is not supported"],
  ["option_flags key with -o", submitQuery(`command=true&option_flags=${enc("-ompi=noodles")}`), 400, "Please provide keys without -o, -ompi is invalid."],
  ["option_flags as a JSON array", submitJson('{"command":"true","option_flags":["a=b"]}'), 422, "str type expected"],
  ["option_flags key __proto__ path", submitQuery(`command=true&option_flags=${enc("__proto__.polluted=yes")}`), 400, "is not allowed"],
  ["envars as a JSON array body", submitJson('[{"A":"1"}]'), 422, "value is not a valid dict"],
  ["envars with a nested value", submitJson('{"command":"true","envars":{"A":{"b":1}}}'), 400, "Environment variables must be key/value pairs (dict)"],
  ["envars name with '='", submitJson('{"command":"true","envars":{"A=B":"1"}}'), 400, "Environment variables must be key/value pairs (dict)"],
  ["envars name with NUL", submitJson('{"command":"true","envars":{"A\\u0000B":"1"}}'), 400, "Environment variables must be key/value pairs (dict)"],
  ["envars as a JSON string", submitJson('"FOO=bar"'), 422, "value is not a valid dict"],
  ["user as a JSON object", submitJson('{"command":"true","user":{"name":"root"}}'), 422, "str type expected"],
  ["workdir as a JSON number array", submitJson('{"command":"true","workdir":[1]}'), 422, "str type expected"],
]);

/** Content types the submit route does not expect. */
const contentTypes = rows("content types", [
  ["text/plain carrying JSON", submitJson('{"command":"true"}', "text/plain"), 200, "Job submit."],
  ["XML body", submitJson("<job><command>true</command></job>", "application/xml"), 422, MALFORMED_JSON],
  ["form body without command", submitForm("num_tasks=2"), 400, NO_COMMAND],
  ["form body with a bad integer", submitForm("command=true&num_tasks=two"), 422, NOT_INT],
  ["multipart with a missing boundary", submitJson("--x\r\n\r\n", "multipart/form-data"), 400, /"detail":/],
  ["JSON labelled UTF-16", submitJson('{"command":"true"}', "application/json; charset=utf-16"), 200, "Job submit."],
  ["binary body", () => ({ method: "POST", path: "/v1/jobs/submit", headers: { "content-type": "application/octet-stream" }, body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]) }), 422, MALFORMED_JSON],
  ["empty JSON object", submitJson("{}"), 400, NO_COMMAND],
  ["JSON null", submitJson("null"), 422, "value is not a valid dict"],
]);

/** Oversized requests: limits are enforced before the body is buffered. */
/**
 * The table's sidecar keeps FLUX_MAX_JOB_FILES_BYTES small (HOSTILE_SIDECAR_ENV), so submit's
 * body limit is FLUX_MAX_BODY_BYTES (1 MiB) like every route's; its larger default is checked in
 * test/sidecar/input.spec.ts.
 */
export const HOSTILE_SIDECAR_ENV = { FLUX_MAX_JOB_FILES_BYTES: String(256 * 1024) };
const huge: HostileCase[] = [
  { category: "huge requests", name: "2 MiB JSON body", request: submitJson(`{"command":"true","x":"${"a".repeat(2 * 1024 * 1024)}"}`), status: 413, message: "too large (limit 1048576 bytes)" },
  { category: "huge requests", name: "2 MiB JSON body to a route without files", request: () => ({ method: "POST", path: "/ui/login", headers: { "content-type": "application/json" }, body: `{"user":"${"a".repeat(2 * 1024 * 1024)}"}` }), status: 413, message: "too large (limit 1048576 bytes)" },
  {
    category: "huge requests",
    name: "2 MiB chunked body without Content-Length",
    request: (ctx) => ({ raw: chunkedRequest("POST", "/v1/jobs/submit", "a".repeat(2 * 1024 * 1024), ctx.authorization) }),
    status: 413,
    message: /"detail":/,
  },
  {
    category: "huge requests",
    name: "2 MiB chunked body without credentials (refused before the body is read)",
    anonymous: true,
    request: () => ({ raw: chunkedRequest("POST", "/v1/jobs/submit", "a".repeat(2 * 1024 * 1024)) }),
    status: 401,
    message: "Not authenticated",
  },
  { category: "huge requests", name: "20 KiB header", request: () => ({ method: "GET", path: "/v1/jobs", headers: { "x-big": "a".repeat(20_000) } }), status: 431, message: null },
  { category: "huge requests", name: "2000 short headers", request: () => ({ method: "GET", path: "/v1/jobs", headers: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-h${i}`, "1"])) }), status: 200, message: '{"jobs":[' },
  { category: "huge requests", name: "20 KiB URL", request: get(`/v1/jobs?x=${"a".repeat(20_000)}`), status: 431, message: null },
  { category: "huge requests", name: "10 KiB command in the query", request: submitQuery(`command=echo%20${"a".repeat(10_000)}`), status: 200, message: "Job submit." },
  { category: "huge requests", name: "10 KiB garbage Authorization header", anonymous: true, request: () => ({ method: "GET", path: "/v1/jobs", headers: { authorization: `Bearer ${"x".repeat(10_000)}` } }), status: 401, message: "Could not validate credentials" },
];

/** Unicode in commands, paths and parameters. */
const unicode = rows("unicode", [
  ["emoji command", submitQuery(`command=${enc("echo pancakes 🥞️🥞️🥞️")}`), 200, "Job submit."],
  ["right-to-left override in command", submitQuery(`command=${enc("echo \u202eevil")}`), 200, "Job submit."],
  // A real broker refuses NUL inside jobspec strings (jansson without JSON_ALLOW_NUL).
  ["NUL in command (query)", submitQuery("command=echo%00hi"), 400, "There was an issue submitting that job."],
  ["invalid UTF-8 percent-encoding in command", submitQuery("command=echo%FF%FE"), 200, "Job submit."],
  ["overlong UTF-8 slash in a job id", get("/v1/jobs/%C0%AF"), 400, INVALID_ID],
  ["fullwidth digits as a job id", get(`/v1/jobs/${enc("１２３")}`), 400, INVALID_ID],
  ["Arabic-Indic digits as a job id", get(`/v1/jobs/${enc("١٢٣")}`), 400, INVALID_ID],
  ["lone surrogate in a job id", get("/v1/jobs/%ED%A0%80"), 400, INVALID_ID],
  ["unicode option_flags value", submitQuery(`command=true&option_flags=${enc("verbose=ünïcødé")}`), 200, "Job submit."],
  ["emoji envars", submitJson('{"command":"true","envars":{"PANCAKE":"🥞"}}'), 200, "Job submit."],
]);

/** Job ids out of range or malformed, on every route that takes one. */
const ids: HostileCase[] = [
  ...[
    ["2^64", (MAX_U64 + 1n).toString()],
    ["negative", "-1"],
    ["hex beyond 64 bits", "0x10000000000000000"],
    ["exponent", "1e5"],
    ["letters", "abc"],
    ["f58 with a non-base58 digit", "ƒ0OIl"],
    ["f58 too long", `f${"z".repeat(13)}`],
    ["dothex with 5 groups", "0000.0000.0000.0000.0001"],
    ["mnemonic words", "job-wizard-hello"],
    ["shell substitution", "$(id)"],
    ["semicolon", "1;ls"],
  ].flatMap(([name, id]) => [
    { name: `GET /v1/jobs/{id}: ${name}`, request: get(`/v1/jobs/${enc(id)}`), status: 400, message: INVALID_ID },
    { name: `GET output: ${name}`, request: get(`/v1/jobs/${enc(id)}/output`), status: 400, message: INVALID_ID },
  ]),
  { name: "GET output/stream: letters", request: get("/v1/jobs/abc/output/stream"), status: 400, message: INVALID_ID },
  { name: "GET output/events: letters", request: get("/v1/jobs/abc/output/events"), status: 400, message: INVALID_ID },
  { name: "GET events: 2^64", request: get(`/v1/jobs/${MAX_U64 + 1n}/events`), status: 400, message: INVALID_ID },
  { name: "cancel: 2^64", request: () => ({ method: "POST", path: `/v1/jobs/${MAX_U64 + 1n}/cancel` }), status: 400, message: "Job cannot be cancelled: job id" },
  { name: "cancel: letters", request: () => ({ method: "POST", path: "/v1/jobs/abc/cancel" }), status: 400, message: "Job cannot be cancelled:" },
  { name: "unknown id 2^64-1", request: get(`/v1/jobs/${MAX_U64}`), status: 404, message: NO_JOB },
  // A real broker's JSON parser stops at 2^63-1: such ids cannot exist, and must not become a 500.
  { name: "unknown id 2^63", request: get(`/v1/jobs/${1n << 63n}`), status: 404, message: NO_JOB },
  { name: "unknown id 2^63 (output)", request: get(`/v1/jobs/${1n << 63n}/output`), status: 404, message: NO_JOB },
  { name: "unknown id 1 (output)", request: get("/v1/jobs/1/output"), status: 404, message: NO_JOB },
  { name: "unknown id (stream)", request: get("/v1/jobs/ƒ2/output/stream".replace("ƒ", "%C6%92")), status: 404, message: NO_JOB },
  { name: "cancel unknown id", request: () => ({ method: "POST", path: "/v1/jobs/12345/cancel" }), status: 404, message: "Job cannot be cancelled: [Errno 2]" },
].map((c) => ({ category: "job ids", ...c }));

/** Query parameters of the listing and search routes. */
const listing = rows("listing parameters", [
  ["limit negative", get("/v1/jobs?details=true&limit=-1"), 422, "ensure this value is greater than or equal to 0"],
  ["limit not a number", get("/v1/jobs?details=true&limit=ten"), 422, NOT_INT],
  ["limit beyond 2^53", get(`/v1/jobs?details=true&limit=${2n ** 60n}`), 422, NOT_INT],
  ["details not a boolean", get("/v1/jobs?details=perhaps"), 422, NOT_BOOL],
  ["search start negative", get("/v1/jobs/search?start=-3"), 422, "ensure this value is greater than or equal to 0"],
  ["search length huge", get("/v1/jobs/search?length=99999999999"), 200, '"recordsTotal":'],
  ["search draw as a script", get(`/v1/jobs/search?draw=${enc("<script>alert(1)</script>")}`), 422, NOT_INT],
  ["search text that would be an invalid regex (it is a plain substring)", get(`/v1/jobs/search?search=${enc("([a-z")}`), 200, '"recordsFiltered":0'],
  ["search with a catastrophic regex", get(`/v1/jobs/search?search=${enc("^(([a-zA-Z0-9 .:_\"{},-])+)+\\$$")}`), 200, '"recordsTotal":'],
  ["duplicated query parameters (the first one counts)", submitQuery("command=true&num_tasks=1&num_tasks=abc"), 200, "Job submit."],
]);

/** Path tricks in the job's working directory: it is only a cwd for the job, never a server path. */
const workdir: HostileCase[] = [
  ["parent traversal", "../../../../etc"],
  ["absolute system directory", "/etc"],
  ["traversal through /tmp", "/tmp/../../root"],
  ["a file, not a directory", "/etc/passwd"],
  ["home shortcut", "~root"],
  ["variable", "$HOME/x"],
  ["4 KiB path", `/${"d".repeat(4096)}`],
  ["percent-encoded dots", "%2e%2e/%2e%2e"],
  ["backslashes", "..\\..\\windows"],
].map(([name, dir]) => ({
  category: "workdir",
  name,
  request: submitQuery(`command=true&workdir=${enc(dir)}`),
  status: 200,
  message: "Job submit.",
}));

/**
 * Files sent with a submit (the table's sidecar has no FLUX_WORKSPACE: the file routes answer
 * 501 once authenticated, 401 before). Names and paths are checked in test/sidecar/files.spec.ts
 * against a workspace as well.
 */
const fileJson = (name: string, extra = "") => submitJson(`{"command":"true","files":{${JSON.stringify(name)}:"x"}${extra}}`);
const BAD_FILE = "value_error.file";
const files: HostileCase[] = [
  ...rows("files in a submit", [
    ["file name climbing out", fileJson("../../etc/cron.d/x"), 422, 'has a \\"..\\" part'],
    ["absolute file name", fileJson("/etc/passwd"), 422, "is absolute"],
    ["file name with a backslash", fileJson("..\\x"), 422, "backslash"],
    ["file name with NUL", fileJson("a\u0000b"), 422, "control character"],
    ["file name with a newline", fileJson("a\nb"), 422, "control character"],
    ["file name of 300 bytes", fileJson("x".repeat(300)), 422, "longer than 255 bytes"],
    ["file name of 9 parts", fileJson(Array(9).fill("d").join("/")), 422, "more than 8 parts"],
    ["file named __proto__ (an ordinary name)", fileJson("__proto__"), 200, "Job submit."],
    ["files as an array", submitJson('{"command":"true","files":["x"]}'), 422, "files must be an object"],
    ["file content as a number", submitJson('{"command":"true","files":{"a":42}}'), 422, BAD_FILE],
    ["file mode with setuid", submitJson('{"command":"true","files":{"a":{"data":"x","mode":2541}}}'), 422, "mode must be permission bits"],
    ["file data not base64", submitJson('{"command":"true","files":{"a":{"data":"%%%","encoding":"base64"}}}'), 422, "not valid base64"],
    ["script without #!", submitJson('{"script":"rm -rf /"}'), 422, "does not appear to start with '#!'"],
    ["script and command", submitJson('{"script":"#!/bin/sh\\n","command":"true"}'), 422, "either a command or a script"],
    ["script_args not strings", submitJson('{"script":"#!/bin/sh\\n","script_args":[1,2]}'), 422, "script_args must be an array of strings"],
  ]),
  ...([
    ["GET", "/v1/files"],
    ["GET", "/v1/files/content?path=x"],
    ["PUT", "/v1/files/content?path=x"],
    ["DELETE", "/v1/files/content?path=x"],
    ["GET", "/v1/jobs/1/files"],
  ] as const).flatMap(([method, path]): HostileCase[] => [
    { category: "file routes", name: `${method} ${path} without credentials`, anonymous: true, request: () => ({ method, path, body: method === "PUT" ? "x" : undefined }), status: 401, message: "Not authenticated" },
    { category: "file routes", name: `${method} ${path} without a workspace`, request: () => ({ method, path, body: method === "PUT" ? "x" : undefined }), status: 501, message: "no workspace: FLUX_WORKSPACE is not set" },
  ]),
  { category: "file routes", name: "PUT past the upload limit by Content-Length, without credentials", anonymous: true, request: () => ({ method: "PUT", path: "/v1/files/content?path=x", headers: { "content-length": String(2 ** 40) } }), status: 413, message: "too large" },
];

/** Routes, methods and HTTP framing the server must refuse cleanly. */
const routing: HostileCase[] = [
  { name: "unknown route", request: get("/v1/unknown"), status: 404, message: NOT_FOUND },
  { name: "encoded traversal out of /v1", request: get("/v1/jobs/%2e%2e/%2e%2e/etc/passwd"), status: 404, message: NOT_FOUND },
  { name: "static traversal", request: get("/static/../../etc/passwd"), status: 404, message: NOT_FOUND },
  { name: "encoded static traversal", request: get("/static/%2e%2e%2f%2e%2e%2fpackage.json"), status: 404, message: NOT_FOUND },
  { name: "DELETE on the jobs collection", request: () => ({ method: "DELETE", path: "/v1/jobs" }), status: 404, message: NOT_FOUND },
  { name: "GET on the submit route", request: get("/v1/jobs/submit"), status: 400, message: INVALID_ID },
  { name: "unknown method", request: () => ({ method: "BREW", path: "/v1/jobs" }), status: 400, message: null },
  { name: "malformed request line", request: () => ({ raw: "GET /v1/jobs HTTP/9.9 extra\r\n\r\n" }), status: 400, message: null },
  { name: "header without a colon", request: () => ({ raw: "GET /v1/jobs HTTP/1.1\r\nHost: x\r\nnot-a-header\r\n\r\n" }), status: 400, message: null },
  { name: "NUL in a header value", request: () => ({ raw: "GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n" }), status: 400, message: null },
  {
    name: "Content-Length and Transfer-Encoding together (smuggling)",
    request: () => ({ raw: "POST /v1/jobs/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" }),
    status: 400,
    message: null,
  },
  { name: "invalid chunk size", request: () => ({ raw: "POST /v1/jobs/submit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" }), status: 400, message: null },
  { name: "negative Content-Length", request: () => ({ raw: "POST /v1/jobs/submit HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" }), status: 400, message: null },
  // Spellings that once reached handlers without credentials: the guard read one path, the router another.
  { name: "fragment after an encoded /v1 (no credentials)", anonymous: true, request: get("/%761/jobs#%ff"), status: 400, message: "Invalid request target" },
  { name: "fragment after an encoded submit route (no credentials)", anonymous: true, request: () => ({ method: "POST", path: "/%761/jobs/submit#%ff", headers: { "content-type": "application/json" }, body: '{"command":"true"}' }), status: 400, message: "Invalid request target" },
  { name: "fragment after /metrics (no credentials)", anonymous: true, request: get("/metrics#x"), status: 400, message: "Invalid request target" },
  { name: "encoded /v1 without credentials", anonymous: true, request: get("/%76%31/jobs"), status: 401, message: "Not authenticated" },
  { name: "malformed percent-escape", request: get("/v1/jobs/%g1"), status: 400, message: "malformed percent-escape" },
  { name: "Basic credentials that are not base64", anonymous: true, request: () => ({ method: "GET", path: "/v1/jobs", headers: { authorization: "Basic !!!not-base64!!!" } }), status: 401, message: "Incorrect user or token" },
  { name: "empty Bearer", anonymous: true, request: () => ({ method: "GET", path: "/v1/jobs", headers: { authorization: "Bearer " } }), status: 401, message: "Not authenticated" },
].map((c) => ({ category: "routing and framing", ...c }));

/** Shell metacharacters in commands: the job gets them as literal argv words. */
export const SHELL_COMMANDS: Array<{ command: (marker: string) => string; output: (marker: string) => string }> = [
  { command: () => "echo $(id)", output: () => "$(id)\n" },
  { command: () => "echo `id`", output: () => "`id`\n" },
  { command: (m) => `echo a; touch ${m}`, output: (m) => `a; touch ${m}\n` },
  { command: (m) => `echo a && touch ${m}`, output: (m) => `a && touch ${m}\n` },
  { command: (m) => `echo a || touch ${m}`, output: (m) => `a || touch ${m}\n` },
  { command: (m) => `echo a | tee ${m}`, output: (m) => `a | tee ${m}\n` },
  { command: (m) => `echo a > ${m}`, output: (m) => `a > ${m}\n` },
  { command: (m) => `echo "$(touch ${m})"`, output: (m) => `$(touch ${m})\n` },
  { command: () => "echo $HOME ${IFS}x", output: () => "$HOME ${IFS}x\n" },
  { command: () => "echo * ~ ?", output: () => "* ~ ?\n" },
  { command: (m) => `echo 'single; touch ${m}'`, output: (m) => `single; touch ${m}\n` },
  { command: (m) => `echo a & touch ${m}`, output: (m) => `a & touch ${m}\n` },
];

const shell: HostileCase[] = SHELL_COMMANDS.map(({ command }, i) => ({
  category: "shell metacharacters",
  name: `submit ${JSON.stringify(command("MARKER"))}`,
  request: submitQuery(`command=${enc(command(`/tmp/never-created-${i}`))}`),
  status: 200,
  message: "Job submit.",
}));

function chunkedRequest(method: string, path: string, body: string, authorization?: string): string {
  const chunks: string[] = [];
  for (let i = 0; i < body.length; i += 65536) {
    const piece = body.slice(i, i + 65536);
    chunks.push(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
  }
  const auth = authorization ? `Authorization: ${authorization}\r\n` : "";
  return `${method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks.join("")}0\r\n\r\n`;
}

export const HOSTILE_CASES: HostileCase[] = [
  ...malformedJson,
  ...nestedJson,
  ...wrongTypes,
  ...contentTypes,
  ...huge,
  ...unicode,
  ...ids,
  ...listing,
  ...workdir,
  ...files,
  ...routing,
  ...shell,
];
