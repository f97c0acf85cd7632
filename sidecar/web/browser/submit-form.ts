// The submit form's values turned into the API's JSON body, checked with the same rules and
// messages as the server (POST /v1/jobs/submit), so the page can answer before a round trip.
// Pure: a test checks these messages against the server's answers.

export interface SubmitFormValues {
  command: string;
  name: string;
  num_tasks: string;
  cores_per_task: string;
  gpus_per_task: string;
  num_nodes: string;
  runtime: string;
  workdir: string;
  option_flags: string;
  envars: string;
  exclusive: boolean;
  /** A batch script is chosen: the job runs it (as flux batch does) instead of a command. */
  script?: boolean;
}

export interface ServerLimits {
  /** Nodes a job may ask for; undefined when unknown (the server then decides). */
  numberNodes?: number;
  /** Whether GPUs may be requested; undefined when unknown. */
  hasGpus?: boolean;
}

export interface SubmitBody {
  command?: string;
  name?: string;
  num_tasks?: number;
  cores_per_task?: number;
  gpus_per_task?: number;
  num_nodes?: number;
  runtime?: number;
  workdir?: string;
  option_flags?: string;
  envars?: Record<string, string>;
  exclusive?: boolean;
}

export type FieldName = Exclude<keyof SubmitFormValues, "script">;

/** The server's words (a 422 on `command`) when a submit has both a command and a script. */
export const COMMAND_AND_SCRIPT = "command: give either a command or a script, not both";
export interface FieldError { field: FieldName; message: string }

const integerFields = ["num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime"] as const;
/** The server's bound on counts (keeps them exact and sane). */
const maxInteger = 2 ** 31 - 1;

/** "k=v,k2=v2" as the server reads it: items without "=" are skipped. */
export function parseOptionFlags(text: string): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const item of text.split(",")) {
    const eq = item.indexOf("=");
    if (eq > 0) flags[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return flags;
}

/** One NAME=value per line; blank lines and lines starting with # are ignored. */
export function parseEnvars(text: string): Record<string, string> | undefined {
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return undefined;
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}

/** The request body and the problems found, in the server's order and words. */
export function checkSubmit(values: SubmitFormValues, limits: ServerLimits): { body: SubmitBody; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const body: SubmitBody = {};
  const command = values.command.trim();
  if (command) body.command = command;
  if (!command && !values.script) errors.push({ field: "command", message: "A 'command' is minimally required." });
  if (command && values.script) errors.push({ field: "command", message: COMMAND_AND_SCRIPT });

  for (const field of integerFields) {
    const raw = values[field].trim();
    if (!raw) continue;
    if (!/^[-+]?\d+$/.test(raw)) errors.push({ field, message: `${field}: value is not a valid integer` });
    else if (Math.abs(Number(raw)) > maxInteger) errors.push({ field, message: `${field}: ensure this value is less than or equal to ${maxInteger}` });
    else body[field] = Number(raw);
  }
  if (values.name.trim()) body.name = values.name.trim();
  if (values.workdir.trim()) body.workdir = values.workdir.trim();
  if (values.exclusive) body.exclusive = true;
  if (values.option_flags.trim()) body.option_flags = values.option_flags.trim();
  if (values.envars.trim()) {
    const env = parseEnvars(values.envars);
    if (env) body.envars = env;
    else errors.push({ field: "envars", message: "Environment variables must be key/value pairs (dict)" });
  }
  if (errors.length) return { body, errors };

  // The server's validate_submit order.
  if (body.num_nodes !== undefined && limits.numberNodes !== undefined && body.num_nodes > limits.numberNodes) {
    errors.push({ field: "num_nodes", message: `The server only has ${limits.numberNodes} nodes, you requested ${body.num_nodes}` });
  }
  for (const option of Object.keys(parseOptionFlags(body.option_flags ?? ""))) {
    if (option.includes("-o")) errors.push({ field: "option_flags", message: `Please provide keys without -o, ${option} is invalid.` });
  }
  if (body.gpus_per_task !== undefined && limits.hasGpus === false) {
    errors.push({ field: "gpus_per_task", message: "This server does not support gpus: gpus_per_task cannot be set." });
  }
  if (body.runtime !== undefined && body.runtime < 0) errors.push({ field: "runtime", message: `Runtime must be >= 0, found ${body.runtime}` });
  for (const field of ["num_tasks", "cores_per_task", "gpus_per_task", "num_nodes"] as const) {
    const value = body[field];
    if (value !== undefined && value < 1) errors.push({ field, message: `Parameter ${field} must be >= 1` });
  }
  return { body, errors };
}

/**
 * The multipart body for a submit with files: the checked fields as form fields (envars as a
 * JSON object), the batch script as the part `script` and each input file as a part `files`,
 * named by its file name (the server writes it to {{tmpdir}}/NAME on every node of the job).
 */
export function submitFormData(body: SubmitBody, script: File | null, files: File[]): FormData {
  const form = new FormData();
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined) continue;
    form.append(key, key === "envars" ? JSON.stringify(value) : String(value));
  }
  if (script) form.append("script", script, script.name);
  for (const file of files) form.append("files", file, file.name);
  return form;
}
