// Jobs page: the cluster summary and every job, searchable, sortable and paged; refreshes itself.
import { getJson } from "../api";
import { ViewContext, isAbort, pageHeading, sleep } from "../app";
import { loadCluster, renderCluster } from "../cluster";
import { h, replaceChildren } from "../dom";
import { f58, formatDuration, formatTimestamp, text } from "../format";
import { JobInfo, SortDirection, SortKey, isActive, jobIdText, pageOf, searchJobs, sortJobs, sortKeys } from "../jobs";
import { resultBadge, stateBadge } from "../badges";

const columns: Array<{ key: SortKey; label: string }> = [
  { key: "id", label: "ID" },
  { key: "name", label: "Name" },
  { key: "state", label: "State" },
  { key: "result", label: "Result" },
  { key: "nnodes", label: "Nodes" },
  { key: "ntasks", label: "Tasks" },
  { key: "t_submit", label: "Submitted" },
  { key: "runtime", label: "Runtime" },
];
const pageSizes = [25, 50, 100];
/** Poll quickly while jobs are pending or running, slowly otherwise (to notice new jobs). */
const activeRefreshMs = 2000;
const idleRefreshMs = 10000;

export async function jobsView(ctx: ViewContext): Promise<void> {
  ctx.setTitle("Jobs");
  const q = ctx.query;
  const sortParam = q.get("sort") as SortKey | null;
  const state = {
    search: q.get("q") ?? "",
    sort: sortParam && sortKeys.includes(sortParam) ? sortParam : ("t_submit" as SortKey),
    direction: (q.get("dir") === "asc" ? "asc" : "desc") as SortDirection,
    page: Number(q.get("page")) || 1,
    size: pageSizes.includes(Number(q.get("size"))) ? Number(q.get("size")) : pageSizes[0],
  };
  const [initialJobs, initialCluster] = await Promise.all([fetchJobs(ctx.signal), loadCluster(ctx.signal)]);
  let jobs: JobInfo[] = initialJobs;

  const clusterBox = h("section", { class: "cluster", "aria-labelledby": "cluster-title" });
  const searchInput = h("input", { id: "job-search", type: "search", value: state.search, placeholder: "id, name, state, node…", autocomplete: "off" });
  const sortSelect = h(
    "select",
    { id: "sort-by" },
    ...columns.flatMap(({ key, label }) =>
      (["desc", "asc"] as const).map((dir) =>
        h("option", { value: `${key}:${dir}`, selected: state.sort === key && state.direction === dir }, `${label} ${dir === "asc" ? "↑" : "↓"}`),
      ),
    ),
  );
  const sizeSelect = h("select", { id: "page-size" }, ...pageSizes.map((n) => h("option", { value: n, selected: n === state.size }, String(n))));
  const summary = h("p", { class: "table-summary", "aria-live": "polite" });
  const headRow = h("tr");
  const body = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Job pages" });
  const updated = h("p", { class: "muted small", "aria-live": "off" });

  function saveQuery(): void {
    const params = new URLSearchParams();
    if (state.search) params.set("q", state.search);
    if (state.sort !== "t_submit") params.set("sort", state.sort);
    if (state.direction !== "desc") params.set("dir", state.direction);
    if (state.page > 1) params.set("page", String(state.page));
    if (state.size !== pageSizes[0]) params.set("size", String(state.size));
    const search = params.toString();
    history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
  }

  function renderHead(): void {
    replaceChildren(
      headRow,
      ...columns.map(({ key, label }) => {
        const active = state.sort === key;
        const ariaSort = active ? (state.direction === "asc" ? "ascending" : "descending") : "none";
        return h(
          "th",
          { scope: "col", "aria-sort": ariaSort },
          h(
            "button",
            {
              type: "button",
              class: "sort",
              "data-sort": key,
              onclick: () => {
                state.direction = active && state.direction === "desc" ? "asc" : active ? "desc" : key === "name" ? "asc" : "desc";
                state.sort = key;
                state.page = 1;
                update();
                (headRow.querySelector(`[data-sort="${key}"]`) as HTMLElement | null)?.focus();
              },
            },
            label,
            h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (state.direction === "asc" ? " ▲" : " ▼") : ""),
          ),
        );
      }),
    );
  }

  function renderBody(): void {
    const filtered = searchJobs(jobs, state.search);
    const page = pageOf(sortJobs(filtered, state.sort, state.direction), state.page, state.size);
    state.page = page.page;
    const focusedHref = document.activeElement instanceof HTMLAnchorElement && body.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    if (page.items.length === 0) {
      replaceChildren(
        body,
        h(
          "tr",
          { class: "empty" },
          h("td", { colspan: columns.length }, jobs.length === 0 ? "No jobs yet. " : "No job matches this search. ", jobs.length === 0 ? h("a", { href: "ui/submit" }, "Submit a job") : null),
        ),
      );
    } else {
      replaceChildren(body, ...page.items.map(jobRow));
    }
    if (focusedHref) (body.querySelector(`a[href="${CSS.escape(focusedHref)}"]`) as HTMLElement | null)?.focus();
    const summaryText =
      page.total === 0
        ? `0 of ${jobs.length} jobs`
        : `Showing ${page.first}–${page.last} of ${page.total} jobs${page.total !== jobs.length ? ` (filtered from ${jobs.length})` : ""}`;
    // A live region: only touch it when the text changes, so refreshes are not announced.
    if (summary.textContent !== summaryText) summary.textContent = summaryText;
    renderPager(page.page, page.pages);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}${jobs.some(isActive) ? " · refreshing every 2 s while jobs are active" : ""}`;
  }

  function renderPager(current: number, pages: number): void {
    const go = (p: number) => () => {
      state.page = p;
      update();
      (pager.querySelector(p < current ? "[data-page=prev]" : "[data-page=next]") as HTMLButtonElement | null)?.focus();
    };
    replaceChildren(
      pager,
      h("button", { type: "button", class: "button", "data-page": "prev", disabled: current <= 1, onclick: go(current - 1) }, "‹ Previous"),
      h("span", { class: "page-number" }, `Page ${current} of ${pages}`),
      h("button", { type: "button", class: "button", "data-page": "next", disabled: current >= pages, onclick: go(current + 1) }, "Next ›"),
    );
  }

  function update(): void {
    sortSelect.value = `${state.sort}:${state.direction}`;
    saveQuery();
    renderHead();
    renderBody();
  }

  searchInput.addEventListener("input", () => {
    state.search = searchInput.value;
    state.page = 1;
    update();
  });
  sortSelect.addEventListener("change", () => {
    const [key, dir] = sortSelect.value.split(":");
    state.sort = key as SortKey;
    state.direction = dir as SortDirection;
    state.page = 1;
    update();
  });
  sizeSelect.addEventListener("change", () => {
    state.size = Number(sizeSelect.value);
    state.page = 1;
    update();
  });

  renderCluster(clusterBox, initialCluster);
  replaceChildren(
    ctx.main,
    pageHeading("Jobs", h("a", { href: "ui/submit", class: "button button-primary" }, "Submit a job")),
    clusterBox,
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "field inline" }, h("label", { for: "job-search" }, "Search"), searchInput),
      h("div", { class: "field inline sort-by" }, h("label", { for: "sort-by" }, "Sort by"), sortSelect),
      h("div", { class: "field inline" }, h("label", { for: "page-size" }, "Per page"), sizeSelect),
    ),
    summary,
    h("div", { class: "table-wrap" }, h("table", { class: "jobs" }, h("caption", { class: "visually-hidden" }, "Jobs; column headers sort"), h("thead", null, headRow), body)),
    pager,
    updated,
  );
  update();

  void (async () => {
    for (;;) {
      try {
        await sleep(jobs.some(isActive) ? activeRefreshMs : idleRefreshMs, ctx.signal);
        if (document.hidden) continue;
        const [nextJobs, cluster] = await Promise.all([fetchJobs(ctx.signal), loadCluster(ctx.signal)]);
        jobs = nextJobs;
        renderCluster(clusterBox, cluster);
        renderBody();
        ctx.connected();
      } catch (err) {
        if (isAbort(err) || ctx.signal.aborted) return;
        ctx.backgroundError(err);
      }
    }
  })();
}

async function fetchJobs(signal: AbortSignal): Promise<JobInfo[]> {
  const answer = await getJson<unknown>("v1/jobs?details=true&listing=true", { signal });
  return Array.isArray(answer) ? (answer as JobInfo[]) : [];
}

/** A cell with a label for the phone layout; its content sits in one box so it stays together. */
function cell(label: string, props: Record<string, string> | null, ...content: Array<Node | string | null>): HTMLTableCellElement {
  return h("td", { ...props, "data-label": label }, h("div", { class: "cell" }, ...content));
}

function jobRow(job: JobInfo): HTMLTableRowElement {
  const id = jobIdText(job);
  const href = `ui/jobs/${encodeURIComponent(id)}`;
  return h(
    "tr",
    null,
    cell("ID", null, h("a", { href, class: "job-id" }, f58(id) || id), h("span", { class: "muted small decimal-id" }, id)),
    cell("Name", { class: "name" }, text(job.name)),
    cell("State", null, stateBadge(job.state)),
    cell("Result", null, resultBadge(job.result)),
    cell("Nodes", { title: text(job.nodelist) }, text(job.nnodes), job.nodelist ? h("span", { class: "muted small" }, ` ${job.nodelist}`) : null),
    cell("Tasks", null, text(job.ntasks)),
    cell("Submitted", null, formatTimestamp(job.t_submit)),
    cell("Runtime", null, formatDuration(job.runtime)),
  );
}
