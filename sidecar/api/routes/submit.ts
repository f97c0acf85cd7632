/** POST /v1/jobs/submit: fields from the query, a JSON body or a form body. */
import { ApiError } from "../errors";
import type { ApiApp, ApiDeps } from "../deps";
import type { ApiRequest } from "../http";
import { jsonResponse } from "../json";
import { parseSubmitRequest, type SubmitBody } from "../submit-fields";
import { parseJson } from "../../flux";

async function readBody(req: ApiRequest): Promise<SubmitBody> {
  const type = (req.header("content-type") ?? "").toLowerCase();
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type)) {
    try {
      return { kind: "form", value: await req.form() };
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(400, { detail: `malformed form body: ${(err as Error).message}` });
    }
  }
  const text = await req.text();
  if (!text.trim()) return { kind: "none" };
  try {
    return { kind: "json", value: parseJson(text) };
  } catch (err) {
    throw new ApiError(422, { detail: [{ loc: ["body"], msg: `malformed JSON: ${(err as Error).message}`, type: "value_error.jsondecode" }] });
  }
}

export function registerSubmit(app: ApiApp, { service, config }: ApiDeps): void {
  app.post("/v1/jobs/submit", async (req) => {
    const submit = parseSubmitRequest(req.query, await readBody(req));
    // With auth on, the job is stamped with the authenticated user; without, ?user= labels it (as in Python).
    const user = config.requireAuth ? req.user : (submit.user ?? req.user);
    const id = await service.submit(submit, user);
    return jsonResponse({ Message: "Job submit.", id });
  });
}
