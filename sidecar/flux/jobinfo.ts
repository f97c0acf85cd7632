/**
 * Job records from job-list and the fields Python's flux.job.JobInfo derives from them
 * (flux-core bindings/python/flux/job/info.py; state/result tables in libjob/state.c and
 * result.c). Pure.
 */
import { formatJobId } from "./ids";

/** A raw job-list record: keys are absent until the broker knows them. */
export interface JobRecord {
  id: bigint;
  userid: number;
  urgency: number;
  state: number;
  t_submit: number;
  [key: string]: unknown;
}

export const JobState = { NEW: 1, DEPEND: 2, PRIORITY: 4, SCHED: 8, RUN: 16, CLEANUP: 32, INACTIVE: 64, PENDING: 14, RUNNING: 48, ACTIVE: 62 } as const;
export const JobResult = { COMPLETED: 1, FAILED: 2, CANCELED: 4, TIMEOUT: 8 } as const;

const STATE_NAMES: Record<number, [string, string]> = {
  1: ["NEW", "N"], 2: ["DEPEND", "D"], 4: ["PRIORITY", "P"], 8: ["SCHED", "S"], 16: ["RUN", "R"], 32: ["CLEANUP", "C"],
  64: ["INACTIVE", "I"], 14: ["PENDING", "PD"], 48: ["RUNNING", "RU"], 62: ["ACTIVE", "A"],
};
const RESULT_NAMES: Record<number, [string, string]> = { 1: ["COMPLETED", "CD"], 2: ["FAILED", "F"], 4: ["CANCELED", "CA"], 8: ["TIMEOUT", "TO"] };

/** "RUN" for 16 etc.; short form ("R") with abbrev; "(unknown)"/"?" otherwise, like flux_job_statetostr. */
export function stateName(state: number, abbrev = false): string {
  const names = STATE_NAMES[state];
  return names ? names[abbrev ? 1 : 0] : abbrev ? "?" : "(unknown)";
}

/** "COMPLETED" for 1 etc.; "" when the job has no result yet. */
export function resultName(result: number | "" | undefined, abbrev = false): string {
  if (result === "" || result === undefined) return "";
  const names = RESULT_NAMES[result];
  return names ? names[abbrev ? 1 : 0] : abbrev ? "?" : "(unknown)";
}

/** Job state name while pending or running, else the result name (Python statustostr). */
export function statusName(state: number, result: number | "" | undefined, abbrev = false): string {
  return state & (JobState.PENDING | JobState.RUNNING) ? stateName(state, abbrev) : resultName(result, abbrev);
}

/** Python JobInfo.returncode: exit code, -signal, -128 canceled before running, 1 failed before running, else "". */
export function returnCode(waitstatus: unknown, result: unknown): number | "" {
  if (!Number.isInteger(waitstatus)) {
    if (result === JobResult.CANCELED) return -128;
    if (result === JobResult.FAILED) return 1;
    return "";
  }
  const ws = waitstatus as number;
  const termsig = ws & 0x7f;
  if (termsig !== 0 && termsig !== 0x7f) return -termsig; // WIFSIGNALED
  if (termsig === 0) return (ws >> 8) & 0xff; // WIFEXITED
  return ""; // stopped: neither branch applies in Python either
}

const SIGNAL_DESCRIPTIONS: Record<number, string> = {
  1: "Hangup", 2: "Interrupt", 3: "Quit", 4: "Illegal instruction", 5: "Trace/breakpoint trap", 6: "Aborted",
  7: "Bus error", 8: "Floating point exception", 9: "Killed", 10: "User defined signal 1", 11: "Segmentation fault",
  12: "User defined signal 2", 13: "Broken pipe", 14: "Alarm clock", 15: "Terminated", 16: "Stack fault",
  17: "Child exited", 18: "Continued", 19: "Stopped (signal)", 20: "Stopped", 21: "Stopped (tty input)",
  22: "Stopped (tty output)", 23: "Urgent I/O condition", 24: "CPU time limit exceeded", 25: "File size limit exceeded",
  26: "Virtual timer expired", 27: "Profiling timer expired", 28: "Window changed", 29: "I/O possible",
  30: "Power failure", 31: "Bad system call",
};

export interface JobExceptionInfo {
  occurred: boolean | "";
  severity: number | "";
  type: string;
  note: string;
}

/** The fields of Python's JobInfo (as JobInfo.to_dict(filtered=False) gives them) plus inactive_reason. */
export interface JobInfo {
  id: bigint;
  jobid: string;
  userid: number;
  username: string;
  urgency: number;
  priority: number | "";
  state: string;
  state_single: string;
  result: string;
  result_abbrev: string;
  status: string;
  status_abbrev: string;
  returncode: number | "";
  waitstatus: number | "";
  success: boolean | "";
  runtime: number;
  t_remaining: number;
  t_submit: number;
  t_depend: number;
  t_priority: number;
  t_sched: number;
  t_run: number;
  t_cleanup: number;
  t_inactive: number;
  duration: number;
  expiration: number;
  name: string;
  cwd: string;
  queue: string;
  project: string;
  bank: string;
  ntasks: number | "";
  ncores: number | "";
  nnodes: number | "";
  ranks: string;
  nodelist: string;
  exception: JobExceptionInfo;
  annotations: Record<string, unknown>;
  dependencies: string[];
  inactive_reason: string;
}

function num(record: JobRecord, key: string): number {
  const v = record[key];
  return typeof v === "number" ? v : 0.0;
}

function orEmpty<T>(record: JobRecord, key: string, check: (v: unknown) => v is T): T | "" {
  const v = record[key];
  return check(v) ? v : "";
}

const isNumber = (v: unknown): v is number => typeof v === "number";
const isString = (v: unknown): v is string => typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

function inactiveReason(info: Omit<JobInfo, "inactive_reason">): string {
  if (info.state !== "INACTIVE") return "";
  const { exception: exc, returncode } = info;
  switch (info.result) {
    case "CANCELED":
      return exc.occurred && exc.type === "cancel" && exc.note ? `Canceled: ${exc.note}` : "Canceled";
    case "FAILED":
      if (exc.occurred && exc.type !== "exec" && exc.severity === 0) {
        return `Exception: type=${exc.type}${exc.note ? ` note=${exc.note}` : ""}`;
      }
      if (typeof returncode === "number" && returncode > 128) {
        const signum = returncode - 128;
        return SIGNAL_DESCRIPTIONS[signum] ?? `Signaled ${signum}`;
      }
      if (returncode === 126) return "Command invoked cannot execute";
      if (returncode === 127) return "command not found";
      if (returncode === 128) return "Invalid argument to exit";
      return `Exit ${returncode}`;
    case "TIMEOUT":
      return "Timeout";
    default:
      return `Exit ${returncode}`;
  }
}

/**
 * Python JobInfo over a job-list record. `now` (epoch seconds) drives runtime and t_remaining
 * of running jobs; `usernameOf` stands in for getpwuid (default: the decimal uid, Python's fallback).
 */
export function jobInfo(record: JobRecord, now = Date.now() / 1000, usernameOf: (uid: number) => string = String): JobInfo {
  const resultId = orEmpty(record, "result", isNumber);
  const waitstatus = orEmpty(record, "waitstatus", isNumber);
  const t_run = num(record, "t_run");
  const t_cleanup = num(record, "t_cleanup");
  const expiration = num(record, "expiration");
  const status = statusName(record.state, resultId);
  const annotations = record.annotations;
  const dependencies = record.dependencies;
  const info: Omit<JobInfo, "inactive_reason"> = {
    id: record.id,
    jobid: formatJobId(record.id, "f58"),
    userid: record.userid,
    username: usernameOf(record.userid),
    urgency: record.urgency,
    priority: orEmpty(record, "priority", isNumber),
    state: stateName(record.state),
    state_single: stateName(record.state, true),
    result: resultName(resultId),
    result_abbrev: resultName(resultId, true),
    status,
    status_abbrev: statusName(record.state, resultId, true),
    returncode: returnCode(waitstatus, resultId),
    waitstatus,
    success: orEmpty(record, "success", isBoolean),
    runtime: t_cleanup > 0 && t_run > 0 ? t_cleanup - t_run : t_run > 0 ? now - t_run : 0.0,
    t_remaining: status === "RUN" ? Math.max(0, expiration - now) : 0.0,
    t_submit: record.t_submit,
    t_depend: num(record, "t_depend"),
    t_priority: num(record, "t_priority"),
    t_sched: num(record, "t_sched"),
    t_run,
    t_cleanup,
    t_inactive: num(record, "t_inactive"),
    duration: num(record, "duration"),
    expiration,
    name: orEmpty(record, "name", isString),
    cwd: orEmpty(record, "cwd", isString),
    queue: orEmpty(record, "queue", isString),
    project: orEmpty(record, "project", isString),
    bank: orEmpty(record, "bank", isString),
    ntasks: orEmpty(record, "ntasks", isNumber),
    ncores: orEmpty(record, "ncores", isNumber),
    nnodes: orEmpty(record, "nnodes", isNumber),
    ranks: orEmpty(record, "ranks", isString),
    nodelist: orEmpty(record, "nodelist", isString),
    exception: {
      occurred: orEmpty(record, "exception_occurred", isBoolean),
      severity: orEmpty(record, "exception_severity", isNumber),
      type: orEmpty(record, "exception_type", isString),
      note: orEmpty(record, "exception_note", isString),
    },
    annotations: annotations !== null && typeof annotations === "object" && !Array.isArray(annotations) ? (annotations as Record<string, unknown>) : {},
    dependencies: Array.isArray(dependencies) ? dependencies.filter(isString) : [],
  };
  return { ...info, inactive_reason: inactiveReason(info) };
}

const TO_DICT_KEYS = [
  "t_depend", "t_priority", "t_sched", "t_run", "t_cleanup", "t_inactive", "duration", "expiration", "name", "cwd",
  "queue", "project", "bank", "ntasks", "ncores", "nnodes", "priority", "ranks", "nodelist", "success", "result",
  "waitstatus", "id", "t_submit", "t_remaining", "state", "username", "userid", "urgency", "runtime", "status",
  "returncode", "dependencies", "jobid", "annotations", "exception",
] as const;

/**
 * Python JobInfo.to_dict(filtered): the unfiltered dict has every key; the filtered one drops
 * "" values, zero t_* / runtime / expiration, and reduces a non-occurred exception to
 * {occurred:false}.
 */
export function jobInfoToDict(info: JobInfo, filtered = true): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of TO_DICT_KEYS) out[key] = info[key];
  out.exception = { ...info.exception };
  if (!filtered) return out;
  for (const key of Object.keys(out)) {
    const value = out[key];
    const zeroRemovable = key.startsWith("t_") || key === "runtime" || key === "expiration";
    if (value === "" || (zeroRemovable && value === 0)) delete out[key];
  }
  if (!info.exception.occurred) out.exception = { occurred: false };
  return out;
}
