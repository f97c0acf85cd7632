// The browser UI: one HTML shell (the same for every page; the browser code routes on the path)
// and the bundled, content-hashed assets. Pages hold no data, so they need no auth: every piece
// of data comes from the authenticated /v1 API, called by the page with relative URLs.
import { notFound } from "../api/errors";
import type { Router } from "../api/http";
import { assets, scriptName, styleName } from "./assets.generated";

/** Client-side page routes; the browser code maps the same paths to views. */
export const pageRoutes = ["/", "/ui", "/ui/login", "/ui/jobs", "/ui/jobs/:id", "/ui/submit", "/ui/files"] as const;

const securityHeaders: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

/**
 * The shell for a request path. `<base href>` is relative ("./", "../../") so the app works under
 * any origin and behind a path-prefixing proxy: every link, asset and API call resolves against it.
 */
export function renderShell(requestPath: string): string {
  const depth = Math.max(0, (requestPath.match(/\//g)?.length ?? 1) - 1);
  const base = depth === 0 ? "./" : "../".repeat(depth);
  return (
    "<!doctype html>\n" +
    '<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<base href="${base}"><title>Flux MiniCluster</title>` +
    '<link rel="icon" href="data:,">' +
    `<link rel="stylesheet" href="static/${styleName}">` +
    `<script defer src="static/${scriptName}"></script>` +
    "</head><body>" +
    '<a class="skip-link" href="#main">Skip to content</a>' +
    '<div id="app"><noscript>This interface needs JavaScript. The REST API is under <code>v1/</code>.</noscript></div>' +
    "</body></html>\n"
  );
}

const rootShell = renderShell("/");

/** Registers the page routes (each also with a trailing slash) and the assets on `app`. */
export function registerWeb(app: Router): void {
  for (const route of pageRoutes.flatMap((r) => (r === "/" ? [r] : [r, `${r}/`]))) {
    app.get(route, (req) => ({
      status: 200,
      headers: { ...securityHeaders, "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache" },
      // The browser resolves relative URLs on the raw path's slashes, which routingPath keeps.
      body: req.routingPath === "/" ? rootShell : renderShell(req.routingPath),
    }), { access: "public" });
  }

  app.get("/static/:name", (req) => {
    const asset = Object.hasOwn(assets, req.params.name) ? assets[req.params.name] : undefined;
    if (!asset) return notFound();
    return {
      status: 200,
      headers: {
        "Content-Type": asset.contentType,
        // Names carry a content hash, so a cached copy is never stale.
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
      },
      body: asset.body,
    };
  }, { access: "public" });
}
