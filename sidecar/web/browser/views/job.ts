// One job: its details, a state timeline from the eventlog, live output, download and cancel, and
// the files of its working directory in the workspace (results), each a download link.
import { ApiError, getJson } from "../api";
import { ViewContext, errorPanel, isAbort, pageHeading, sleep } from "../app";
import { resultBadge, stateBadge } from "../badges";
import { h, replaceChildren } from "../dom";
import { FileListing, fileTable, filesPageUrl } from "../files";
import { f58, formatDuration, formatTimestamp, text } from "../format";
import { JobInfo } from "../jobs";
import { follow } from "../stream";

/** The page stops appending live output past this size; the download has all of it. */
const maxShownOutput = 2 * 1024 * 1024;
/** Eventlog entries after which the job's details are worth fetching again. */
const stateEvents = new Set(["depend", "priority", "alloc", "start", "finish", "release", "free", "clean", "exception"]);

export async function jobView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  const apiPath = `v1/jobs/${encodeURIComponent(id)}`;
  ctx.setTitle(`Job ${id}`);
  let job: JobInfo;
  try {
    job = await getJson<JobInfo>(apiPath, { signal: ctx.signal });
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
      replaceChildren(ctx.main, pageHeading("Job not found"), errorPanel(err), h("p", null, h("a", { href: "ui/jobs" }, "Back to the jobs list")));
      return;
    }
    throw err;
  }
  if (!job || typeof job !== "object") throw new ApiError(404, `Job ${id} was not found.`, job);

  const decimalId = String(job.id);
  const shortId = f58(decimalId) || decimalId;
  ctx.setTitle(`Job ${shortId}`);

  const details = h("dl", { class: "details" });
  const actionStatus = h("p", { class: "action-status", role: "status", "aria-live": "polite" });
  const cancelButton = h("button", { type: "button", class: "button button-danger", "aria-haspopup": "dialog" }, "Cancel job…");
  const downloadButton = h("button", { type: "button", class: "button" }, "Download output");
  const timeline = h("ol", { class: "timeline", "aria-label": "Job events" });
  const timelineNote = h("p", { class: "muted small", "aria-live": "polite" }, "Connecting…");
  const output = h("pre", { class: "output", tabindex: "0", role: "log", "aria-label": "Job output", "aria-live": "off" });
  const outputNote = h("p", { class: "muted small", "aria-live": "polite" }, "Connecting…");
  const showStdout = h("input", { type: "checkbox", id: "show-stdout", checked: true });
  const showStderr = h("input", { type: "checkbox", id: "show-stderr", checked: true });
  const filesBox = h("div", { class: "job-files" }, h("p", { class: "muted" }, "Loading…"));
  const filesNote = h("p", { class: "muted small", "aria-live": "polite" });
  const refreshFilesButton = h("button", { type: "button", class: "button button-quiet" }, "Refresh");
  let shownBytes = 0;
  let truncated = false;

  /** The job's working directory; refreshed when the job ends (its results are there by then). */
  async function loadFiles(): Promise<void> {
    try {
      const listing = await getJson<FileListing>(`${apiPath}/files`, { signal: ctx.signal });
      replaceChildren(filesBox, fileTable(listing, { browse: true, caption: `Files of job ${shortId}` }));
      replaceChildren(
        filesNote,
        "In the workspace at ",
        h("a", { href: filesPageUrl(listing.path) }, listing.path),
        listing.truncated ? `; only the first ${listing.entries.length} entries are shown.` : ".",
      );
    } catch (err) {
      if (isAbort(err) || ctx.signal.aborted) return;
      // 404: the job runs outside the workspace; 501: the server has no workspace.
      const known = err instanceof ApiError && (err.status === 404 || err.status === 501);
      replaceChildren(filesBox, h("p", { class: known ? "muted" : "error-message" }, err instanceof Error ? err.message : String(err)));
      filesNote.textContent = "";
    }
  }
  refreshFilesButton.addEventListener("click", () => void loadFiles());

  function renderDetails(info: JobInfo): void {
    job = info;
    const exception = info.exception as { occurred?: boolean; type?: string; note?: string; severity?: number } | undefined;
    const rows: Array<[string, Node | string]> = [
      ["ID", h("span", null, h("span", { class: "job-id" }, shortId), h("span", { class: "muted" }, ` (${decimalId})`))],
      ["Name", text(info.name)],
      ["State", stateBadge(info.state)],
      ["Result", resultBadge(info.result) || "—"],
      ["Return code", text(info.returncode) || "—"],
      ["Nodes", `${text(info.nnodes) || "—"}${info.nodelist ? ` (${info.nodelist})` : ""}`],
      ["Ranks", text(info.ranks) || "—"],
      ["Tasks", text(info.ntasks) || "—"],
      ["Cores", text(info.ncores) || "—"],
      ["Submitted", formatTimestamp(info.t_submit) || "—"],
      ["Started", formatTimestamp(info.t_run) || "—"],
      ["Finished", formatTimestamp(info.t_inactive) || "—"],
      ["Runtime", formatDuration(info.runtime) || "—"],
      ["Time limit", typeof info.duration === "number" && info.duration > 0 ? formatDuration(info.duration) : "none"],
    ];
    if (typeof info.cwd === "string" && info.cwd) rows.push(["Working directory", info.cwd]);
    if (exception?.occurred) rows.push(["Exception", `${text(exception.type)}${exception.note ? `: ${exception.note}` : ""}`]);
    replaceChildren(details, ...rows.flatMap(([label, value]) => [h("dt", null, label), h("dd", null, value)]));
    cancelButton.hidden = info.state === "INACTIVE";
  }

  let refreshPending = false;
  async function refreshDetails(): Promise<void> {
    if (refreshPending) return;
    refreshPending = true;
    try {
      renderDetails(await getJson<JobInfo>(apiPath, { signal: ctx.signal }));
      ctx.connected();
    } catch (err) {
      ctx.backgroundError(err);
    } finally {
      refreshPending = false;
    }
  }

  function appendOutput(stream: string, rank: string, data: string): void {
    if (truncated) return;
    if (shownBytes + data.length > maxShownOutput) {
      truncated = true;
      outputNote.textContent = "The output is too large to show here; download it to see all of it.";
      return;
    }
    shownBytes += data.length;
    const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    const kind = stream === "stderr" ? "stderr" : "stdout";
    output.appendChild(h("span", { class: `out-${kind}`, "data-rank": rank, title: `${kind}, rank ${rank}` }, data));
    if (atBottom) output.scrollTop = output.scrollHeight;
  }

  function followOutput(): void {
    void follow(`${apiPath}/output/events`, ctx.signal, {
      onStart: () => {
        output.textContent = "";
        shownBytes = 0;
        truncated = false;
        outputNote.textContent = job.state === "INACTIVE" ? "" : "Streaming live output…";
      },
      onEvent: (event) => {
        const payload = parseEventData(event.data);
        if (event.event === "output" && payload && typeof payload.data === "string") {
          appendOutput(String(payload.stream ?? "stdout"), String(payload.rank ?? ""), payload.data);
        }
      },
      onEnd: () => {
        if (!truncated) outputNote.textContent = output.childNodes.length ? "End of output." : "This job produced no output.";
      },
      onError: (err) => {
        outputNote.textContent = `Output unavailable: ${err instanceof Error ? err.message : String(err)}`;
        ctx.backgroundError(err);
      },
    });
  }

  function followEvents(): void {
    let submitTime: number | undefined;
    void follow(`${apiPath}/events`, ctx.signal, {
      onStart: () => {
        timeline.textContent = "";
        submitTime = undefined;
        timelineNote.textContent = "";
      },
      onEvent: (event) => {
        const entry = parseEventData(event.data);
        if (!entry || typeof entry.name !== "string") return;
        const timestamp = typeof entry.timestamp === "number" ? entry.timestamp : undefined;
        submitTime ??= timestamp;
        timeline.appendChild(timelineItem(entry.name, timestamp, submitTime, entry.context));
        if (stateEvents.has(entry.name)) void refreshDetails();
      },
      onEnd: () => {
        timelineNote.textContent = "The job is complete.";
        void refreshDetails();
        void loadFiles();
      },
      onError: (err) => {
        timelineNote.textContent = `Events unavailable: ${err instanceof Error ? err.message : String(err)}`;
        ctx.backgroundError(err);
      },
    });
  }

  downloadButton.addEventListener("click", async () => {
    downloadButton.disabled = true;
    actionStatus.textContent = "Preparing the download…";
    try {
      const answer = await getJson<{ Output?: unknown; Message?: string }>(`${apiPath}/output`, { signal: ctx.signal });
      if (!Array.isArray(answer?.Output)) {
        actionStatus.textContent = answer?.Message ?? "This job has no output yet.";
        return;
      }
      saveText(`flux-job-${decimalId}.txt`, answer.Output.map(String).join(""));
      actionStatus.textContent = "Output downloaded.";
    } catch (err) {
      if (!isAbort(err)) actionStatus.textContent = `Download failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      downloadButton.disabled = false;
    }
  });

  const dialog = cancelDialog(shortId, async () => {
    actionStatus.textContent = "Cancelling…";
    try {
      const answer = await getJson<{ Message?: string }>(`${apiPath}/cancel`, { method: "POST", signal: ctx.signal });
      actionStatus.textContent = answer?.Message ?? "Cancel requested.";
      void refreshDetails();
    } catch (err) {
      if (!isAbort(err)) actionStatus.textContent = `Cancel failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    cancelButton.focus();
  });
  cancelButton.addEventListener("click", () => dialog.showModal());
  ctx.signal.addEventListener("abort", () => dialog.remove());

  showStdout.addEventListener("change", () => output.classList.toggle("hide-stdout", !showStdout.checked));
  showStderr.addEventListener("change", () => output.classList.toggle("hide-stderr", !showStderr.checked));

  renderDetails(job);
  replaceChildren(
    ctx.main,
    h("p", { class: "breadcrumb" }, h("a", { href: "ui/jobs" }, "‹ All jobs")),
    pageHeading(`Job ${shortId}`, h("div", { class: "head-actions" }, downloadButton, cancelButton)),
    actionStatus,
    h(
      "div",
      { class: "job-grid" },
      h("section", { class: "card", "aria-labelledby": "details-title" }, h("h2", { id: "details-title" }, "Details"), details),
      h("section", { class: "card", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"), timeline, timelineNote),
    ),
    h(
      "section",
      { class: "card output-card", "aria-labelledby": "output-title" },
      h(
        "div",
        { class: "output-head" },
        h("h2", { id: "output-title" }, "Output"),
        h(
          "fieldset",
          { class: "legend" },
          h("legend", { class: "visually-hidden" }, "Show streams"),
          h("label", { class: "check out-stdout-label" }, showStdout, " stdout"),
          h("label", { class: "check out-stderr-label" }, showStderr, " stderr"),
        ),
      ),
      output,
      outputNote,
    ),
    h(
      "section",
      { class: "card files-card", "aria-labelledby": "files-title" },
      h("div", { class: "output-head" }, h("h2", { id: "files-title" }, "Files"), refreshFilesButton),
      filesBox,
      filesNote,
    ),
    dialog,
  );
  void loadFiles();
  followEvents();
  followOutput();
  // Keep the runtime current while the job runs; state changes refresh on their own events.
  void (async () => {
    while (job.state !== "INACTIVE") {
      try {
        await sleep(5000, ctx.signal);
      } catch {
        return;
      }
      await refreshDetails();
    }
  })();
}

function parseEventData(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data);
    return value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function timelineItem(name: string, timestamp: number | undefined, submitTime: number | undefined, context: unknown): HTMLLIElement {
  const offset = timestamp !== undefined && submitTime !== undefined ? `+${(timestamp - submitTime).toFixed(3)}s` : "";
  const contextText = context && typeof context === "object" && Object.keys(context).length ? JSON.stringify(context) : "";
  return h(
    "li",
    { class: `event event-${name.replace(/[^a-z-]/gi, "")}` },
    h("span", { class: "event-name" }, name),
    h("time", { class: "event-time", title: formatTimestamp(timestamp) }, offset),
    contextText ? h("span", { class: "event-context" }, contextText.length > 200 ? `${contextText.slice(0, 200)}…` : contextText) : null,
  );
}

/** A modal asking to confirm the cancel; Escape or "Keep running" closes it without acting. */
function cancelDialog(jobLabel: string, onConfirm: () => Promise<void>): HTMLDialogElement {
  const confirm = h("button", { type: "button", class: "button button-danger" }, "Cancel job");
  const keep = h("button", { type: "button", class: "button", autofocus: true }, "Keep running");
  const dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": "cancel-title", "aria-describedby": "cancel-text" },
    h("h2", { id: "cancel-title" }, `Cancel job ${jobLabel}?`),
    h("p", { id: "cancel-text" }, "Flux stops every task of this job. This cannot be undone."),
    h("div", { class: "actions" }, keep, confirm),
  );
  keep.addEventListener("click", () => dialog.close());
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    dialog.close();
    await onConfirm();
    confirm.disabled = false;
  });
  return dialog;
}

function saveText(fileName: string, content: string): void {
  const url = URL.createObjectURL(new Blob([content], { type: "text/plain;charset=utf-8" }));
  const link = h("a", { href: url, download: fileName, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
