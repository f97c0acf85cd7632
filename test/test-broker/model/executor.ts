/**
 * Runs a job's tasks as real local processes (one per task, argv spawned directly, no shell) and
 * reports what a job shell would: line-buffered output per task and stream, log messages, and
 * shell-style wait statuses (a task killed by signal S counts as exit 128+S, because on a real
 * broker the job shell exits that way: SIGTERM gives 143<<8 = 36608).
 *
 * Each task leads a process group of its own and signals go to the whole group, so a cancelled
 * `sh -c "sleep 60"` leaves no sleep behind, holding the output open, after the job or the broker.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { constants as osConstants } from "node:os";

export interface TaskSpec {
  rank: number;
  hostname: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string | undefined;
}

export type OutputStream = "stdout" | "stderr";

export interface ExecutorEvents {
  onOutput(stream: OutputStream, rank: number, data: Buffer | undefined, eof: boolean): void;
  onLog(rank: number, level: number, message: string): void;
  /** A task could not be started (the shell raises an `exec` exception). */
  onStartFailure(message: string): void;
  onTaskExit(rank: number, status: number, pid: number | undefined): void;
  /** Every task is gone; status is the largest task wait status. */
  onComplete(status: number): void;
}

const ENOENT_TEXT = "No such file or directory";

/** Accumulates bytes and hands back whole lines, like the shell's default line buffering (one entry per line). */
class LineBuffer {
  private pending: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    const joined = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = joined.indexOf(0x0a); nl >= 0; nl = joined.indexOf(0x0a, start)) {
      lines.push(joined.subarray(start, nl + 1));
      start = nl + 1;
    }
    this.pending = joined.subarray(start);
    return lines;
  }
  flush(): Buffer | undefined {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest.length ? rest : undefined;
  }
}

export const waitStatusOf = (code: number | null, signal: NodeJS.Signals | null): number => {
  if (signal) return ((128 + (osConstants.signals[signal] ?? 0)) & 0xff) << 8;
  return ((code ?? 0) & 0xff) << 8;
};

export class TaskExecutor {
  private readonly children = new Map<number, ChildProcess>();
  private remaining: number;
  private maxStatus = 0;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tasks: TaskSpec[],
    private readonly events: ExecutorEvents,
    private readonly killTimeoutMs = 5000,
  ) {
    this.remaining = tasks.length;
  }

  start(): void {
    for (const task of this.tasks) this.startTask(task);
  }

  private startTask(task: TaskSpec): void {
    const cwd = task.cwd;
    const [command, ...args] = task.argv;
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd, env: task.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    } catch (err) {
      // argv or environment Node cannot pass to execve (the shell's execvp would fail too)
      return this.startFailed(task, command, (err as Error).message);
    }
    this.children.set(task.rank, child);
    let exited = false;
    /** true the first time only: a task ends once, by exit or by a spawn error */
    const settle = (): boolean => {
      if (exited) return false;
      exited = true;
      this.children.delete(task.rank);
      return true;
    };
    const finish = (status: number) => {
      if (settle()) this.taskDone(task.rank, status, child.pid);
    };
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (!settle()) return;
      const reason = err.code === "ENOENT" ? ENOENT_TEXT : err.code === "EACCES" ? "Permission denied" : err.message;
      this.startFailed(task, command, reason, err.code === "ENOENT" ? 127 : 126);
    });
    let openStreams = 2;
    let exitStatus: number | undefined;
    const maybeDone = () => {
      if (openStreams === 0 && exitStatus !== undefined) finish(exitStatus);
    };
    for (const stream of ["stdout", "stderr"] as const) {
      const lines = new LineBuffer();
      const pipe = child[stream]!;
      pipe.on("data", (chunk: Buffer) => {
        for (const line of lines.push(chunk)) this.events.onOutput(stream, task.rank, line, false);
      });
      pipe.on("close", () => {
        const rest = lines.flush();
        if (rest) this.events.onOutput(stream, task.rank, rest, false);
        if (child.pid !== undefined) this.events.onOutput(stream, task.rank, undefined, true);
        openStreams--;
        maybeDone();
      });
    }
    child.on("exit", (code, signal) => {
      exitStatus = waitStatusOf(code, signal);
      maybeDone();
    });
  }

  /** Like the job shell: a log entry, an `exec` exception, eof on both streams, exit 127/126. */
  private startFailed(task: TaskSpec, command: string, reason: string, exitCode = 126): void {
    const message = `task ${task.rank} (host ${task.hostname}): start failed: ${command}: ${reason}`;
    this.events.onLog(task.rank, 0, message);
    this.events.onStartFailure(message);
    for (const stream of ["stderr", "stdout"] as const) this.events.onOutput(stream, task.rank, undefined, true);
    this.taskDone(task.rank, exitCode << 8, undefined);
  }

  private taskDone(rank: number, status: number, pid: number | undefined): void {
    this.maxStatus = Math.max(this.maxStatus, status);
    this.events.onTaskExit(rank, status, pid);
    if (--this.remaining === 0) {
      clearTimeout(this.killTimer);
      this.events.onComplete(this.maxStatus);
    }
  }

  /** Sends a signal to every live task's process group; with escalate, SIGKILL follows after the kill timeout. */
  signal(signum: number, escalate = false): void {
    for (const child of this.children.values()) killGroup(child, signum);
    if (escalate && !this.killTimer && this.children.size > 0) {
      this.killTimer = setTimeout(() => {
        for (const child of this.children.values()) killGroup(child, "SIGKILL");
      }, this.killTimeoutMs);
      this.killTimer.unref();
    }
  }
}

/** The task and everything it started; the task alone when its group is already gone. */
function killGroup(child: ChildProcess, signal: number | NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
