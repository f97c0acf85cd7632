/** POST /v1/jobs/submit: fields from the query, a JSON body or a form body. */
import { ApiError } from "../errors";
import type { ApiApp, ApiDeps } from "../deps";
import type { ApiRequest } from "../http";
import { jsonResponse } from "../json";
import { IdempotencyKeys, parseIdempotencyKey, submitFingerprint } from "../idempotency";
import { parseSubmitRequest, type FormFile, type SubmitBody, type SubmitRequest } from "../submit-fields";
import { submitBodyLimit } from "../../config";
import { FluxUnavailableError, parseJson, splitCommand } from "../../flux";
import { Gate } from "../service";

const asFormFile = async (part: File): Promise<FormFile> => ({ kind: "file", filename: part.name, bytes: new Uint8Array(await part.arrayBuffer()) });

/** A form's fields, with its file parts apart: `files` (repeatable; each named by its filename) and `script`. */
async function readForm(req: ApiRequest, maxFiles: number): Promise<SubmitBody> {
  // The submit fields (about 20) and `script`, plus the files: past that is refused before parsing.
  const value: Record<string, unknown> = await req.form(["files"], maxFiles + 32);
  const parts = value.files === undefined ? [] : Array.isArray(value.files) ? value.files : [value.files];
  delete value.files;
  const files: FormFile[] = [];
  for (const part of parts) {
    if (typeof part === "string") throw new ApiError(422, { detail: [{ loc: ["body", "files"], msg: "a files part must be a file (with a filename)", type: "type_error.file" }] });
    files.push(await asFormFile(part));
  }
  let script: FormFile | undefined;
  if (value.script instanceof File) {
    script = await asFormFile(value.script);
    delete value.script;
  }
  return { kind: "form", value, files, script };
}

async function readBody(req: ApiRequest, maxFiles: number): Promise<SubmitBody> {
  const type = (req.header("content-type") ?? "").toLowerCase();
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type)) {
    try {
      return await readForm(req, maxFiles);
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

/** Submit bodies larger than FLUX_MAX_BODY_BYTES read into memory at once; the others wait their turn. */
const MAX_LARGE_BODIES = 4;

/** Submissions whose broker reply is still awaited (each holds a matchtag and its request). */
const MAX_WAITING_SUBMITS = 1024;

/** The job name a submit gets: its own, else its command's basename (as Flux names a job without one). */
function jobName(submit: SubmitRequest): string | undefined {
  if (submit.name) return submit.name;
  if (submit.script !== undefined) return "batch";
  try {
    const argv = typeof submit.command === "string" ? splitCommand(submit.command) : submit.command;
    return argv?.[0]?.split("/").pop();
  } catch {
    return undefined;
  }
}

/**
 * The 504 of a submit whose broker reply did not come in time: the job may exist. It says so,
 * and what to do: retry with the same key, or (without one) look for the job before resubmitting.
 */
function outcomeUnknown(what: string, key: string | undefined, submit: SubmitRequest, since: number, replyMayCome = true): ApiError {
  const name = jobName(submit);
  const look = `check GET /v1/jobs for a job${name ? ` named "${name}"` : ""} submitted after ${new Date(since).toISOString()}`;
  const check = { path: "/v1/jobs", name, submitted_after: since / 1000 };
  if (key && replyMayCome) {
    return new ApiError(504, {
      detail: `${what} Retry with the same Idempotency-Key (${key}): it answers the job's id once the broker has replied, and never creates a second job.`,
      outcome: "unknown",
      idempotency_key: key,
    });
  }
  if (key) {
    // No reply will come on a lost connection: the key stays taken, so a retry cannot submit twice.
    return new ApiError(504, {
      detail: `${what} Idempotency-Key ${key} will not submit again; ${look} before submitting with a new key.`,
      outcome: "unknown",
      idempotency_key: key,
      check,
    });
  }
  return new ApiError(504, {
    detail: `${what} Before submitting again, ${look}. Send an Idempotency-Key header to make a retry safe.`,
    outcome: "unknown",
    check,
  });
}

export function registerSubmit(app: ApiApp, { service, config, log, metrics }: ApiDeps): void {
  const windowMs = config.idempotencyWindowSeconds * 1000;
  const keys = new IdempotencyKeys(windowMs, config.idempotencyMaxKeys);
  let waiting = 0;
  metrics.trackIdempotencyKeys(keys);

  const fileLimits = { maxBytes: config.maxJobFilesBytes, maxFiles: config.maxJobFiles };
  const largeBodies = new Gate(MAX_LARGE_BODIES);

  app.post("/v1/jobs/submit", (req) => {
    // A body past the server's usual limit (files) is read, and held until its submit is answered,
    // by a few requests at a time only.
    const large = req.declaredLength() > config.maxBodyBytes || req.header("content-length") === undefined;
    return large ? largeBodies.run(() => submitJob(req)) : submitJob(req);
  }, { maxBodyBytes: submitBodyLimit(config) });

  async function submitJob(req: ApiRequest) {
    const key = parseIdempotencyKey(req.header("idempotency-key"));
    const body = await readBody(req, config.maxJobFiles);
    const submit = parseSubmitRequest(req.query, body, fileLimits);
    // With auth on, the job is stamped with the authenticated user; without, ?user= labels it (as in Python).
    const user = config.requireAuth ? req.user : (submit.user ?? req.user);
    // The broker's reply is awaited as long as the key is honoured, whatever this answer does;
    // a stalled broker may hold only so many of those waits.
    const start = () => {
      if (waiting >= MAX_WAITING_SUBMITS) {
        throw new ApiError(503, { detail: `${waiting} submissions are still waiting for the Flux broker; try again later.` }, { "retry-after": "5" });
      }
      waiting++;
      const submission = service.submit(submit, user, { replyWaitMs: windowMs });
      void submission.finally(() => waiting--).catch(() => undefined);
      return submission;
    };
    const { outcome, replayed, since } = key
      ? keys.claim(req.user, key, submitFingerprint(submit, user), start)
      : { outcome: start(), replayed: false, since: Date.now() };
    const waitMs = service.flux.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      const what = `The Flux broker did not answer within ${waitMs / 1000} s: whether the job was created is unknown (the submission goes on).`;
      if (waitMs > 0) timer = setTimeout(() => reject(outcomeUnknown(what, key, submit, since)), waitMs);
    });
    let id: bigint;
    try {
      id = await Promise.race([outcome, late]);
    } catch (err) {
      if (err instanceof ApiError && err.status === 504 && !replayed) {
        outcome.then(
          (lateId) => log.warn({ id: String(lateId), idempotencyKey: key, user }, "a submit answered 504 (outcome unknown) created its job after all"),
          () => undefined,
        );
      }
      if (err instanceof FluxUnavailableError && !err.notSent) {
        throw outcomeUnknown("The connection to the Flux broker was lost after the submission was sent: whether the job was created is unknown.", key, submit, since, false);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return jsonResponse({ Message: "Job submit.", id }, 200, replayed ? { "idempotent-replayed": "true" } : undefined);
  }
}
