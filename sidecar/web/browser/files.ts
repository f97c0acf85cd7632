// Workspace listings (GET /v1/files, GET /v1/jobs/{id}/files) as tables whose file names are
// download links to GET /v1/files/content. The server sends files as attachments with a sandbox
// CSP, so a link never renders one; names only ever reach the page as text and encoded URLs.
import { h } from "./dom";
import { formatTimestamp } from "./format";

export interface FileEntry { name: string; type: "file" | "directory" | "symlink" | "other"; size: number; mtime: number; mode: number }
export interface FileListing { path: string; entries: FileEntry[]; truncated: boolean }

/** `dir/name`, or `name` at the workspace root. */
export function joinPath(dir: string, name: string): string {
  return dir ? `${dir.replace(/\/+$/, "")}/${name}` : name;
}

export function downloadUrl(path: string): string {
  return `v1/files/content?path=${encodeURIComponent(path)}`;
}

export function filesPageUrl(dir: string): string {
  return dir ? `ui/files?path=${encodeURIComponent(dir)}` : "ui/files";
}

/** "512 B", "1.5 KiB", "3.2 MiB". */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Permission bits as ls shows them (rwxr-xr-x). */
export function formatMode(mode: number): string {
  const bits = "rwxrwxrwx";
  let text = "";
  for (let i = 0; i < 9; i++) text += mode & (1 << (8 - i)) ? bits[i] : "-";
  return text;
}

/**
 * The listing as a table: files link to their download, directories to their own listing in the
 * Files view (when `browse` is set), anything else is plain text.
 */
export function fileTable(listing: FileListing, options: { browse: boolean; caption: string }): HTMLElement {
  const rows = listing.entries.map((entry) => {
    const path = joinPath(listing.path, entry.name);
    let name: Node;
    if (entry.type === "file") {
      name = h("a", { href: downloadUrl(path), download: entry.name, class: "file-link", title: `Download ${entry.name}` }, entry.name);
    } else if (entry.type === "directory" && options.browse) {
      name = h("a", { href: filesPageUrl(path), class: "dir-link" }, `${entry.name}/`);
    } else {
      name = h("span", null, entry.type === "directory" ? `${entry.name}/` : entry.name);
    }
    return h(
      "tr",
      { class: `file-${entry.type}` },
      h("td", { class: "name", "data-label": "Name" }, name),
      h("td", { "data-label": "Size" }, entry.type === "file" ? formatSize(entry.size) : ""),
      h("td", { "data-label": "Modified" }, formatTimestamp(entry.mtime)),
      h("td", { "data-label": "Mode", class: "mode" }, formatMode(entry.mode)),
    );
  });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "jobs files" },
      h("caption", { class: "visually-hidden" }, options.caption),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Size"), h("th", { scope: "col" }, "Modified"), h("th", { scope: "col" }, "Mode"))),
      h(
        "tbody",
        null,
        ...(rows.length ? rows : [h("tr", { class: "empty" }, h("td", { colspan: 4 }, "No files yet."))]),
      ),
    ),
  );
}
