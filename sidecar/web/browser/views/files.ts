// Files: a directory of the workspace (where jobs run and write their results), with a download
// link per file, a link per subdirectory, and an upload form (PUT /v1/files/content per file).
import { ApiError, getJson, request } from "../api";
import { ViewContext, errorPanel, isAbort, pageHeading } from "../app";
import { h, replaceChildren } from "../dom";
import { FileListing, fileTable, filesPageUrl, formatSize, joinPath } from "../files";

export async function filesView(ctx: ViewContext): Promise<void> {
  const dir = (ctx.query.get("path") ?? "").replace(/^\/+|\/+$/g, "");
  ctx.setTitle(dir ? `Files: ${dir}` : "Files");
  let listing: FileListing;
  try {
    listing = await getJson<FileListing>(`v1/files?path=${encodeURIComponent(dir)}`, { signal: ctx.signal });
  } catch (err) {
    if (err instanceof ApiError && err.status === 501) {
      replaceChildren(
        ctx.main,
        pageHeading("Files"),
        h(
          "section",
          { class: "panel", "aria-labelledby": "no-workspace" },
          h("h2", { id: "no-workspace" }, "No workspace on this server"),
          h("p", null, "The sidecar has no FLUX_WORKSPACE, so there are no files to list, upload or download. Jobs still run; their output is on their pages."),
          h("p", { class: "muted small" }, err.message),
        ),
      );
      return;
    }
    // 404 (no such directory), 400 (a file), 403 (leaves the workspace): say so here.
    if (err instanceof ApiError && [400, 403, 404].includes(err.status)) {
      replaceChildren(ctx.main, pageHeading("Files"), breadcrumbs(dir), errorPanel(err));
      return;
    }
    throw err;
  }

  const status = h("p", { class: "action-status", role: "status", "aria-live": "polite" });
  const picker = h("input", { type: "file", id: "upload-files", name: "files", multiple: true, required: true });
  const target = h("input", { type: "text", id: "upload-dir", name: "dir", value: dir, autocomplete: "off", spellcheck: "false", placeholder: "the workspace root", "aria-describedby": "upload-dir-hint" });
  const uploadButton = h("button", { type: "submit", class: "button button-primary" }, "Upload");
  const form = h(
    "form",
    { class: "card form upload-form", "aria-labelledby": "upload-title", novalidate: true },
    h("h2", { id: "upload-title" }, "Upload files"),
    h("div", { class: "field" }, h("label", { for: "upload-files" }, "Files"), picker),
    h(
      "div",
      { class: "field" },
      h("label", { for: "upload-dir" }, "Into directory"),
      target,
      h("p", { class: "hint", id: "upload-dir-hint" }, "Relative to the workspace; created if missing. A file of the same name is replaced."),
    ),
    h("div", { class: "actions" }, uploadButton),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(picker.files ?? []);
    if (!files.length) {
      status.textContent = "Choose one or more files first.";
      picker.focus();
      return;
    }
    const into = target.value.trim().replace(/^\/+|\/+$/g, "");
    uploadButton.disabled = true;
    const done: string[] = [];
    try {
      for (const file of files) {
        status.textContent = `Uploading ${file.name} (${formatSize(file.size)})…`;
        const path = joinPath(into, file.name);
        await request(`v1/files/content?path=${encodeURIComponent(path)}`, { method: "PUT", body: file, signal: ctx.signal });
        done.push(path);
      }
      status.textContent = `Uploaded ${done.join(", ")}.`;
      if (into === dir) await refresh();
      else ctx.navigate(filesPageUrl(into));
    } catch (err) {
      if (isAbort(err) || ctx.signal.aborted) return;
      status.textContent = `Upload failed${done.length ? ` after ${done.join(", ")}` : ""}: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      uploadButton.disabled = false;
    }
  });

  const tableBox = h("div", null, fileTable(listing, { browse: true, caption: `Files in ${dir || "the workspace"}` }));
  const summary = h("p", { class: "table-summary" });
  function showSummary(current: FileListing): void {
    const count = `${current.entries.length} ${current.entries.length === 1 ? "entry" : "entries"}`;
    summary.textContent = current.truncated ? `${count} shown; the server lists no more.` : count;
  }
  async function refresh(): Promise<void> {
    const current = await getJson<FileListing>(`v1/files?path=${encodeURIComponent(dir)}`, { signal: ctx.signal });
    replaceChildren(tableBox, fileTable(current, { browse: true, caption: `Files in ${dir || "the workspace"}` }));
    showSummary(current);
  }
  showSummary(listing);

  replaceChildren(ctx.main, pageHeading("Files"), breadcrumbs(dir), summary, tableBox, status, form);
}

/** workspace / jobs / 20261203T… : each level a link to its listing. */
function breadcrumbs(dir: string): HTMLElement {
  const parts = dir ? dir.split("/") : [];
  const crumbs: Node[] = [parts.length ? h("a", { href: filesPageUrl("") }, "workspace") : h("span", { "aria-current": "page" }, "workspace")];
  parts.forEach((part, i) => {
    const path = parts.slice(0, i + 1).join("/");
    crumbs.push(document.createTextNode(" / "));
    crumbs.push(i === parts.length - 1 ? h("span", { "aria-current": "page" }, part) : h("a", { href: filesPageUrl(path) }, part));
  });
  return h("nav", { class: "breadcrumb path-crumbs", "aria-label": "Directory" }, ...crumbs);
}
