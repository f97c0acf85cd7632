/** GET /v1/jobs (plain, details, details+listing, limit) and GET /v1/jobs/search. */
import { validationError } from "../errors";
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse, jsonTextResponse } from "../json";

const TRUE = new Set(["true", "1", "yes", "on", "t", "y"]);
const FALSE = new Set(["false", "0", "no", "off", "f", "n"]);

/** FastAPI bool query parameter: absent = false, unparsable = 422. */
export function queryBool(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw validationError("query", name, "value could not be parsed to a boolean", "type_error.bool");
}

/** A non-negative integer query parameter, or undefined when absent. */
export function queryCount(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\s*[-+]?\d+\s*$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw validationError("query", name, "value is not a valid integer", "type_error.integer");
  }
  const n = Number(value);
  if (n < 0) throw validationError("query", name, "ensure this value is greater than or equal to 0", "value_error.number.not_ge");
  return n;
}

export function registerJobs(app: ApiApp, { service }: ApiDeps): void {
  app.get("/v1/jobs/search", async (req) => {
    const q = req.query;
    const length = q.length === "-1" ? undefined : queryCount(q.length, "length"); // DataTables: -1 = all
    return jsonResponse(
      await service.search({
        query: q["search[value]"] || q.search || q.query || undefined,
        start: queryCount(q.start, "start"),
        length,
        draw: queryCount(q.draw, "draw") ?? 1,
      }),
    );
  });

  app.get("/v1/jobs", async (req) => {
    const details = queryBool(req.query.details, "details");
    const listing = queryBool(req.query.listing, "listing");
    const limit = queryCount(req.query.limit, "limit");
    if (!details) return jsonTextResponse(await service.listJobsJson());
    const jobs = await service.listJobsDetailed(limit);
    if (listing) return jsonResponse(jobs);
    return jsonResponse(new Map(jobs.map((job) => [String(job.get("id")), job])));
  });
}
