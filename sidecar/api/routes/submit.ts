/** POST /v1/jobs/submit: fields from the query, a JSON body or a form body. */
import { ApiError } from "../errors";
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";
import { parseSubmitRequest, type SubmitBody } from "../submit-fields";
import { parseJson } from "../../flux";
import type { Context } from "hono";

async function readBody(c: Context): Promise<SubmitBody> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type)) {
    try {
      return { kind: "form", value: await c.req.parseBody() };
    } catch (err) {
      throw new ApiError(400, { detail: `malformed form body: ${(err as Error).message}` });
    }
  }
  const text = await c.req.text();
  if (!text.trim()) return { kind: "none" };
  try {
    return { kind: "json", value: parseJson(text) };
  } catch (err) {
    throw new ApiError(422, { detail: [{ loc: ["body"], msg: `malformed JSON: ${(err as Error).message}`, type: "value_error.jsondecode" }] });
  }
}

export function registerSubmit(app: ApiApp, { service, config }: ApiDeps): void {
  app.post("/v1/jobs/submit", async (c) => {
    const req = parseSubmitRequest(c.req.query(), await readBody(c));
    // With auth on, the job is stamped with the authenticated user; without, ?user= labels it (as in Python).
    const user = config.requireAuth ? c.get("user") : (req.user ?? c.get("user"));
    const id = await service.submit(req, user);
    return jsonResponse({ Message: "Job submit.", id });
  });
}
