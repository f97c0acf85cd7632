// Files in the web UI, in a real browser (Debian's Chromium via playwright-core) against an
// in-process sidecar with a workspace: the submit page sends a batch script and input files
// (multipart), the job page lists the job's result files with download links, and the Files
// view browses the workspace, downloads and uploads. File names from the server stay text.
// Screenshots of the upload, the job's files and the Files view go to test-results/screenshots.
import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { credentials, launchBrowser, screenshotDir, startStack, type Stack } from "./harness";

/** A file name a job may write and the page must show as text (no "/", allowed by the server). */
const hostileName = `<img src=x onerror="window.__xss=5">.txt`;
const script = `#!/bin/sh
# count the lines of the input, on a two-node allocation
here=$(dirname "$0")
wc -l < "$here/input.txt" > result.txt
cp "$here"/*.txt .
echo "counted on $(flux resource list -no {nnodes} 2>/dev/null || echo ?) nodes"
`;

describe("web: files (Chromium)", function () {
  this.timeout(60_000);
  let stack: Stack;
  let workspace: string;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let context: BrowserContext;
  let page: Page;
  let jobUrl = "";
  const pageErrors: string[] = [];

  before(async function () {
    browser = await launchBrowser();
    if (!browser) return this.skip();
    context = browser.context;
    workspace = mkdtempSync(path.join(tmpdir(), "flux-web-workspace-"));
    stack = await startStack({ auth: true, workspace });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => pageErrors.push(err.message));
    mkdirSync(screenshotDir, { recursive: true });
    await page.goto(`${stack.url}/ui/login`);
    await page.getByLabel("User name").fill(credentials.user);
    await page.getByLabel("Token").fill(credentials.token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/ui\/jobs$/);
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "errors in the page"));

  async function noInjectedMarkup(): Promise<void> {
    assert.equal(await page.evaluate(() => (window as { __xss?: unknown }).__xss), undefined, "a payload ran");
    assert.equal(await page.locator("main img, main script").count(), 0, "a payload became markup");
  }

  /** At desktop and phone width, as the browser suite takes them; back to the desktop size after. */
  async function screenshot(name: string): Promise<void> {
    for (const [label, size] of Object.entries({ desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } })) {
      await page.setViewportSize(size);
      await page.waitForTimeout(50);
      await page.screenshot({ path: path.join(screenshotDir, `${name}-${label}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  it("submits a batch script with an input file on two nodes (multipart)", async () => {
    await page.getByRole("link", { name: "Submit", exact: true }).click();
    await page.waitForURL(/\/ui\/submit$/);
    await page.getByLabel("Batch script").setInputFiles({ name: "count.sh", mimeType: "text/x-sh", buffer: Buffer.from(script) });
    await page.getByLabel("Input files").setInputFiles([
      { name: "input.txt", mimeType: "text/plain", buffer: Buffer.from("one\ntwo\nthree\n") },
      { name: hostileName, mimeType: "text/plain", buffer: Buffer.from("a name, not markup\n") },
    ]);
    await page.getByLabel("Nodes", { exact: true }).fill("2");
    await screenshot("files-submit-upload");
    // A command beside the script is refused in the page, in the server's words.
    await page.getByLabel("Command").fill("hostname");
    await page.getByRole("button", { name: "Submit job" }).click();
    assert.deepEqual(await page.locator(".form-errors li").allTextContents(), ["command: give either a command or a script, not both"]);
    await page.getByLabel("Command").fill("");
    await page.getByRole("button", { name: "Submit job" }).click();
    await page.waitForURL(/\/ui\/jobs\/\d+$/);
    jobUrl = page.url();
    await page.locator(".details .result-completed").waitFor({ timeout: 30_000 });
    assert.equal(await page.locator(".details dd").nth(1).textContent(), "count.sh", "named after the script");
  });

  it("lists the job's files on its page; a file downloads with its content", async () => {
    const files = page.locator(".files-card");
    await files.getByRole("link", { name: "result.txt" }).waitFor();
    assert.deepEqual(await files.locator("td.name").allTextContents(), [hostileName, "input.txt", "result.txt"].sort());
    assert.match((await files.locator("p.small").textContent()) ?? "", /^In the workspace at jobs\/\d{8}T\d{6}Z-[0-9a-f]{8}\.$/);
    await noInjectedMarkup();
    await files.scrollIntoViewIfNeeded();
    await screenshot("files-job-page");
    const [download] = await Promise.all([page.waitForEvent("download"), files.getByRole("link", { name: "result.txt" }).click()]);
    assert.equal(download.suggestedFilename(), "result.txt");
    assert.equal(readFileSync((await download.path())!, "utf8").trim(), "3");
  });

  it("the Files view browses to the job's directory and uploads a file into a new one", async () => {
    await page.getByRole("link", { name: "Files", exact: true }).click();
    await page.waitForURL(/\/ui\/files$/);
    await page.getByRole("link", { name: "jobs/" }).click();
    await page.waitForURL(/\/ui\/files\?path=jobs$/);
    await page.locator(".path-crumbs", { hasText: "workspace / jobs" }).waitFor();
    assert.equal(await page.locator("table.files tbody tr").count(), 1, "the one job's directory");
    await page.locator("table.files a.dir-link").click();
    await page.getByRole("link", { name: "result.txt" }).waitFor();
    await noInjectedMarkup();

    await page.getByLabel("Files", { exact: true }).setInputFiles({ name: "params.json", mimeType: "application/json", buffer: Buffer.from('{"steps": 10}\n') });
    await page.getByLabel("Into directory").fill("inputs/run1");
    await page.getByRole("button", { name: "Upload" }).click();
    await page.waitForURL(/\/ui\/files\?path=inputs%2Frun1$/);
    await page.getByRole("link", { name: "params.json" }).waitFor();
    assert.equal(readFileSync(path.join(workspace, "inputs/run1/params.json"), "utf8"), '{"steps": 10}\n');
    assert.deepEqual(await page.locator(".path-crumbs").textContent(), "workspace / inputs / run1");
    await screenshot("files-view-upload");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "params.json" }).click()]);
    assert.equal(readFileSync((await download.path())!, "utf8"), '{"steps": 10}\n');
    assert.ok(jobUrl);
  });

  it("without a workspace, the Files view and the job page say so", async () => {
    const bare = await startStack({ auth: false });
    try {
      await page.goto(`${bare.url}/ui/files`);
      await page.getByRole("heading", { name: "No workspace on this server" }).waitFor();
      assert.match((await page.locator(".panel .muted").textContent()) ?? "", /FLUX_WORKSPACE is not set/);
      await page.goto(`${bare.url}/ui/submit`);
      await page.getByLabel("Command").fill("true");
      await page.getByRole("button", { name: "Submit job" }).click();
      await page.waitForURL(/\/ui\/jobs\/\d+$/);
      await page.locator(".files-card .job-files p.muted", { hasText: /no workspace/ }).waitFor();
    } finally {
      await bare.close();
    }
  });
});
