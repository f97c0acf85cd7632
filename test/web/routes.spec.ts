// The UI's HTTP side: the HTML shell, its relative <base>, and the hashed, long-cached assets.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { Router } from "../../sidecar/api/http";
import { registerWeb, renderShell } from "../../sidecar/web";
import { assets, scriptName, styleName } from "../../sidecar/web/assets.generated";
import { serveRouter, type ServedRouter } from "../support/serve-router";

describe("web: routes", () => {
  let app: ServedRouter;
  before(async () => {
    const router = new Router(() => Promise.reject(new Error("the web UI's routes are all public")));
    registerWeb(router);
    app = await serveRouter(router);
  });
  after(() => app.close());

  it("answers GET / cheaply with the shell, without auth", async () => {
    const res = await app.request("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await res.text();
    assert.match(html, /<base href="\.\/">/);
    assert.ok(html.includes(`src="static/${scriptName}"`) && html.includes(`href="static/${styleName}"`));
    assert.doesNotMatch(html, /https?:\/\//, "no absolute origins");
    assert.equal((await app.request("/", { method: "HEAD" })).status, 200, "HEAD too (some health checks use it)");
  });

  it("serves every page route with a <base> leading back to the app root", async () => {
    for (const [path, base] of [
      ["/ui/login", "../"],
      ["/ui/jobs", "../"],
      ["/ui/jobs/", "../../"],
      ["/ui/jobs/ƒ2pXbq3cQ", "../../"],
      ["/ui/submit", "../"],
    ]) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      const html = await res.text();
      assert.ok(html.includes(`<base href="${base}">`), `${path}: ${html.match(/<base[^>]*>/)?.[0]}`);
      // Resolving the base against the page URL lands on the root, so assets and API calls work.
      assert.equal(new URL(base, `http://h${encodeURI(path)}`).pathname, "/");
    }
  });

  it("leaves /ui/session and other /ui paths to the API", async () => {
    assert.equal((await app.request("/ui/session")).status, 404);
    assert.equal((await app.request("/ui/login", { method: "POST" })).status, 404);
  });

  it("serves the bundled assets with long-cache headers under their content hash", async () => {
    for (const name of [scriptName, styleName]) {
      const res = await app.request(`/static/${name}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
      const body = await res.text();
      assert.equal(body, assets[name].body);
      const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
      assert.ok(name.includes(`.${hash}.`), `${name} carries the hash of its content`);
    }
    assert.match((await app.request(`/static/${scriptName}`)).headers.get("content-type") ?? "", /javascript/);
  });

  it("answers 404 for unknown assets and prototype keys", async () => {
    for (const name of ["app.js", "constructor", "__proto__", "..%2Fpackage.json"]) {
      assert.equal((await app.request(`/static/${name}`)).status, 404, name);
    }
  });

  it("keeps the shell free of data", () => {
    assert.doesNotMatch(renderShell("/ui/jobs/1"), /<script>[^<]/);
  });
});
