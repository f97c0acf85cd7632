/**
 * The checks of flux-core's default job validator (the `jobspec` plugin, i.e. Python's
 * `JobspecV1(**jobspec)` constructor), with its messages. job-ingest answers a failure with
 * errnum 1 and the message (observed on 0.88: "Missing key (attributes)",
 * "attributes.system.duration must be a number").
 */
type Json = Record<string, unknown>;

export class JobspecInvalid extends Error {}

const isMapping = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

function fail(message: string): never {
  throw new JobspecInvalid(message);
}

function validateKeys(expected: string[], given: string[], opts: { optional?: boolean; allowAdditional?: boolean } = {}): void {
  if (!opts.optional) for (const key of expected) if (!given.includes(key)) fail(`Missing key (${key})`);
  if (!opts.allowAdditional) for (const key of given) if (!expected.includes(key)) fail(`Extraneous key (${key})`);
}

function* walkResources(resources: unknown[]): Generator<unknown> {
  for (const res of resources) {
    yield res;
    if (isMapping(res) && Array.isArray(res.with)) yield* walkResources(res.with);
  }
}

function validateResource(res: unknown): void {
  if (!isMapping(res)) fail("resource must be a mapping");
  if (!("type" in res)) fail("type is a required key for resources");
  if (typeof res.type !== "string") fail("type must be a string");
  if (!("count" in res)) fail("count is a required key for resources");
  const count = res.count;
  if (isInt(count)) {
    if (["node", "slot", "core"].includes(res.type) && count < 1) fail("node, slot, or core count must be > 0");
    if (count < 0) fail("count must be >= 0");
  } else if (!isMapping(count) && typeof count !== "string") {
    fail("count must be an int or mapping");
  }
  for (const key of ["id", "unit", "label"]) if (key in res && typeof res[key] !== "string") fail(`${key} must be a string`);
  if ("exclusive" in res && typeof res.exclusive !== "boolean") fail("exclusive must be a boolean");
  if (res.type === "slot" && !("label" in res)) fail("slots must have labels");
}

function validateTask(task: unknown): void {
  if (!isMapping(task)) fail("task must be a mapping");
  validateKeys(["command", "slot", "count"], Object.keys(task), { allowAdditional: true });
  const count = task.count;
  if (!isMapping(count)) fail("count must be a mapping");
  const keys = Object.keys(count);
  if (keys.length !== 1) fail("count must have exactly one key set");
  if (!keys.some((k) => ["per_slot", "per_resource", "total"].includes(k))) fail("count per_slot, per_resource, or total must be set");
  if ("total" in count) {
    if (!isInt(count.total)) fail("count total must be an int");
    if (count.total <= 0) fail("count total must be > 0");
  }
  if ("per_slot" in count) {
    if (!isInt(count.per_slot)) fail("count per_slot must be an int");
    if (count.per_slot <= 0) fail("count per_slot must be > 0");
  }
  if (typeof task.slot !== "string") fail("slot must be a string");
  if ("attributes" in task && !isMapping(task.attributes)) fail("attributes must be a mapping");
  const command = task.command;
  if ((Array.isArray(command) || typeof command === "string") && command.length === 0) fail("command array cannot have length of zero");
  if (!Array.isArray(command) || !command.every((c) => typeof c === "string")) fail("command must be a list of strings");
}

function validateCounts(resources: unknown[]): void {
  for (const res of resources as Json[]) {
    if (!isInt(res.count)) fail(`resource count must be an integer for type '${String(res.type)}' (got '${pythonTypeName(res.count)}')`);
    if (Array.isArray(res.with)) validateCounts(res.with);
  }
}

function pythonTypeName(v: unknown): string {
  if (typeof v === "string") return "str";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (Array.isArray(v)) return "list";
  if (v === null) return "NoneType";
  if (typeof v === "boolean") return "bool";
  return "dict";
}

/** Throws JobspecInvalid with the validator's message when the jobspec is not a valid V1 jobspec. */
export function validateJobspecV1(jobspec: unknown): asserts jobspec is Json {
  if (!isMapping(jobspec)) fail("Unable to parse JSON");
  validateKeys(["resources", "tasks", "version", "attributes"], Object.keys(jobspec));
  const { resources, tasks, attributes, version } = jobspec;
  if (version !== 1) fail("version must be 1");
  if (!Array.isArray(resources)) fail("resources must be a sequence");
  if (!Array.isArray(tasks)) fail("tasks must be a sequence");
  if (!isMapping(attributes)) fail("attributes must be a mapping");
  for (const res of walkResources(resources)) validateResource(res);
  for (const task of tasks) validateTask(task);
  validateKeys(["system", "user"], Object.keys(attributes), { optional: true });
  const system = attributes.system;
  if (isMapping(system) && "dependencies" in system && !Array.isArray(system.dependencies)) {
    fail("attributes.system.dependencies must be a list");
  }
  // JobspecV1._v1_validate
  if (!("system" in attributes)) fail("attributes.system is a required key");
  if (!isMapping(system)) fail("attributes.system must be a mapping");
  if (!("duration" in system)) fail("attributes.system.duration is a required key");
  if (typeof system.duration !== "number") fail("attributes.system.duration must be a number");
  for (const task of tasks as Json[]) {
    const count = task.count as Json;
    if (!("per_slot" in count) && !("total" in count)) fail("count per_slot or total must be set");
  }
  validateCounts(resources);
}
