/**
 * Script payloads in job output (stdout and stderr), program names and URLs stay inert text in
 * the web UI, in a real browser. Extends the web suite's own four payloads with a wider table;
 * reuses its harness (Debian's Chromium via playwright-core), skipped with a message when
 * /usr/bin/chromium is absent.
 */
import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { credentials, launchBrowser, startStack, type Stack } from "../web/harness";

/** Each payload, if it ever ran, would set window.__xss or open a dialog. */
const PAYLOADS = [
  "<script>window.__xss='script'</script>",
  "<img src=x onerror=\"window.__xss='img'\">",
  "<svg onload=\"window.__xss='svg'\"></svg>",
  "<iframe srcdoc=\"<script>parent.__xss='iframe'</script>\"></iframe>",
  "\"><img src=x onerror=\"window.__xss='attr-break'\">",
  "'><img src=x onerror='window.__xss=\"attr-break-single\"'>",
  "</pre><script>window.__xss='pre-break'</script><pre>",
  "<a href=\"javascript:window.__xss='href'\">click</a>",
  "<details open ontoggle=\"window.__xss='details'\">",
  "<body onload=\"window.__xss='body'\">",
  "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__xss='mxss'\">",
  "<style>@import 'javascript:alert(1)';</style>",
  "{{constructor.constructor('window.__xss=\"template\"')()}}",
  "${alert('template-literal')}",
  "<input autofocus onfocus=\"window.__xss='autofocus'\">",
  "\u003cscript\u003ewindow.__xss='escaped'\u003c/script\u003e",
];

/** Elements no job data may ever turn into. */
const INJECTED = "main script, main img, main svg, main iframe, main a[href^='javascript'], main details, main input[autofocus], main math, main style";

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}

describe("reliability: script payloads stay inert in the web UI (Chromium)", function () {
  this.timeout(60_000);
  let stack: Stack;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const basic = `Basic ${Buffer.from(`${credentials.user}:${credentials.token}`).toString("base64")}`;

  async function submitByApi(argv: string[]): Promise<string> {
    const command = encodeURIComponent(argv.map(shellQuote).join(" "));
    const res = await fetch(`${stack.url}/v1/jobs/submit?command=${command}`, { method: "POST", headers: { authorization: basic } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return /"id":(\d+)/.exec(text)![1];
  }

  async function assertInert(where: string): Promise<void> {
    await page.waitForTimeout(200); // give any injected handler (onload, onerror, autofocus) its chance
    assert.equal(await page.evaluate(() => (window as { __xss?: unknown }).__xss), undefined, `a payload ran on ${where}`);
    assert.deepEqual(dialogs, [], `a dialog opened on ${where}`);
    assert.equal(await page.locator(INJECTED).count(), 0, `a payload became markup on ${where}`);
  }

  before(async function () {
    browser = await launchBrowser();
    if (!browser) return this.skip();
    context = browser.context;
    stack = await startStack({ auth: true });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`${stack.url}/ui/login`);
    await page.getByLabel("User name").fill(credentials.user);
    await page.getByLabel("Token").fill(credentials.token);
    await page.getByLabel("Token").press("Enter");
    await page.waitForURL(/\/ui\/jobs$/);
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  it(`shows ${PAYLOADS.length} payloads printed on stdout and stderr as text`, async () => {
    const script = 'for p in "$@"; do printf "%s\\n" "$p"; printf "%s\\n" "$p" >&2; done; echo all-printed';
    const id = await submitByApi(["sh", "-c", script, "sh", ...PAYLOADS]);
    await page.goto(`${stack.url}/ui/jobs/${id}`);
    await page.locator("pre.output").getByText("all-printed").waitFor();
    const stdout = await page.locator("pre.output .out-stdout").allTextContents();
    const stderr = await page.locator("pre.output .out-stderr").allTextContents();
    for (const payload of PAYLOADS) {
      assert.ok(stdout.join("").includes(payload), `stdout shows ${payload} as text`);
      assert.ok(stderr.join("").includes(payload), `stderr shows ${payload} as text`);
    }
    await assertInert("the job page");
  });

  it("shows payloads used as program names (the job's default name) as text in the list and on the job page", async () => {
    const named = PAYLOADS.filter((p) => !p.includes("/")); // a job's default name is its program's basename
    const ids = await Promise.all(named.map((payload) => submitByApi([payload])));
    await page.goto(`${stack.url}/ui/jobs`);
    await page.waitForFunction((n) => document.querySelectorAll("table.jobs td.name").length >= n, named.length);
    const names = await page.locator("table.jobs td.name").allTextContents();
    for (const payload of named) assert.ok(names.includes(payload), `list shows ${payload} as text`);
    await assertInert("the job list");
    await page.goto(`${stack.url}/ui/jobs/${ids[0]}`);
    await page.locator(".details").waitFor();
    await assertInert("a job page named by a payload");
  });

  it("keeps payloads in the URL (job id, search query) inert", async () => {
    for (const payload of PAYLOADS.slice(0, 6)) {
      await page.goto(`${stack.url}/ui/jobs/${encodeURIComponent(payload)}`);
      await page.locator("main").waitFor();
      await assertInert(`/ui/jobs/${payload}`);
      await page.goto(`${stack.url}/ui/jobs?q=${encodeURIComponent(payload)}`);
      await page.locator("main").waitFor();
      await assertInert(`/ui/jobs?q=${payload}`);
    }
  });
});
