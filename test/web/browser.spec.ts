// The UI in a real browser (Debian's Chromium via playwright-core) against an in-process sidecar
// and the test broker: log in, submit, watch output, reload, cancel, log out; hostile job names
// and output stay text; the broker-down page; screenshots of every page at desktop and phone width.
import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { credentials, launchBrowser, screenshotDir, startPrefixProxy, startStack, type Stack } from "./harness";

// No single quotes: the payloads travel inside a shell command.
const hostileName = `<img src=x onerror="window.__xss=1">`;
const hostileStdout = "<script>window.__xss=2</script>";
const hostileStderr = "<img src=x onerror=window.__xss=3>";
/** A job's default name is its program's name: one more way for a payload to reach the list. */
const hostileProgram = "<svg onload=window.__xss=4>";
const viewports = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

describe("web: browser flow (Chromium)", function () {
  this.timeout(30_000);
  let stack: Stack;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let context: BrowserContext;
  let page: Page;
  let jobId = "";
  const pageErrors: string[] = [];

  before(async function () {
    browser = await launchBrowser();
    if (!browser) return this.skip();
    context = browser.context;
    stack = await startStack({ auth: true });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => pageErrors.push(err.message));
    mkdirSync(screenshotDir, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  afterEach(() => {
    // A script error in the page fails the suite right after the test that caused it.
    assert.deepEqual(pageErrors.splice(0), [], "errors in the page");
  });

  const url = (p: string) => `${stack.url}/${p}`;

  /** Screenshots at both widths; the page is returned to the desktop size afterwards. */
  async function screenshots(name: string, opts = { fullPage: true }): Promise<void> {
    for (const [label, size] of Object.entries(viewports)) {
      await page.setViewportSize(size);
      await page.waitForTimeout(50);
      await page.screenshot({ path: path.join(screenshotDir, `${name}-${label}.png`), fullPage: opts.fullPage });
    }
    await page.setViewportSize(viewports.desktop);
  }

  async function noInjectedMarkup(): Promise<void> {
    assert.equal(await page.evaluate(() => (window as { __xss?: unknown }).__xss), undefined, "a payload ran");
    assert.equal(await page.locator("main img, main script").count(), 0, "a payload became markup");
  }

  it("sends a visitor to the login page and shows a failed login's message", async () => {
    await page.goto(url(""));
    await page.waitForURL(/\/ui\/login$/);
    assert.equal(await page.locator("nav[aria-label=Main]").isVisible(), false);
    await page.getByLabel("User name").fill(credentials.user);
    await page.getByLabel("Token").fill("wrong-token");
    await page.getByRole("button", { name: "Log in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.equal(await alert.textContent(), "Login failed: Incorrect user or token");
    assert.equal(await page.getByLabel("Token").getAttribute("aria-invalid"), "true");
    await screenshots("login");
  });

  it("logs in with the keyboard and lands on the jobs page with the cluster summary", async () => {
    await page.getByLabel("User name").fill(credentials.user);
    await page.getByLabel("Token").fill(credentials.token);
    await page.getByLabel("Token").press("Enter");
    await page.waitForURL(/\/ui\/jobs$/);
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    assert.equal(await page.locator(".session .user").textContent(), credentials.user);
    // Every broker rank is a node, also where a test instance runs all of them on one host.
    assert.equal(await page.locator(".stat", { hasText: "Nodes up" }).locator(".stat-value").textContent(), String(stack.broker.size));
    assert.equal(await page.locator(".stat").filter({ has: page.locator("dt", { hasText: /^Flux$/ }) }).locator(".stat-value").textContent(), stack.broker.version, "the broker's flux-core version");
  });

  it("checks the submit form in the page with the server's messages", async () => {
    await page.getByRole("link", { name: "Submit", exact: true }).click();
    await page.waitForURL(/\/ui\/submit$/);
    await page.getByRole("button", { name: "Submit job" }).click();
    assert.match((await page.locator(".form-errors").textContent()) ?? "", /A 'command' is minimally required\./);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "f-command");
    await page.getByLabel("Command").fill("hostname");
    await page.getByLabel("Nodes", { exact: true }).fill("9");
    await page.getByLabel("Shell options").fill("-ompi=openmpi@5");
    await page.getByRole("button", { name: "Submit job" }).click();
    // The node limit comes from the server's /v1/cluster, so the page finds both problems itself.
    const nodes = String(stack.broker.size);
    assert.deepEqual(await page.locator(".form-errors li").allTextContents(), [
      `The server only has ${nodes} nodes, you requested 9`,
      "Please provide keys without -o, -ompi is invalid.",
    ]);
    await screenshots("submit-errors");
    // What only the server knows comes back in the same place: a node count it refuses.
    await page.getByLabel("Nodes", { exact: true }).fill("2");
    await page.getByLabel("Shell options").fill("");
    await page.getByLabel("Tasks").fill("1");
    await page.getByRole("button", { name: "Submit job" }).click();
    await page.locator(".form-errors h2", { hasText: "The server did not accept this job" }).waitFor();
    assert.deepEqual(await page.locator(".form-errors li").allTextContents(), [
      "There was an issue submitting that job. node count must not be greater than task count",
    ]);
  });

  it("submits a job with a hostile name and shows its live output as text, stderr apart", async () => {
    await page.reload();
    await page.getByLabel("Command").fill(
      `sh -c 'echo "${hostileStdout}"; echo "${hostileStderr}" >&2; echo second line; sleep 1.5; echo done'`,
    );
    await page.getByLabel("Job name").fill(hostileName);
    await page.getByLabel("Tasks", { exact: true }).fill("1");
    await page.getByRole("button", { name: "Submit job" }).click();
    await page.waitForURL(/\/ui\/jobs\/\d+$/);
    jobId = decodeURIComponent(page.url().split("/").pop()!);
    if (stack.broker.kind === "test") assert.ok(BigInt(jobId) > 2n ** 53n, "the id survived the page exactly");
    const output = page.locator("pre.output");
    await output.getByText("second line").waitFor();
    assert.match((await page.locator("h1").textContent()) ?? "", /^Job ƒ/);
    assert.equal(await page.locator("pre.output .out-stderr").first().textContent(), `${hostileStderr}\n`);
    assert.ok((await page.locator("pre.output .out-stdout").allTextContents()).includes(`${hostileStdout}\n`));
    await noInjectedMarkup();
    await screenshots("job-running");
    await output.getByText("done").waitFor();
    await page.locator(".timeline .event-name", { hasText: "clean" }).waitFor();
    await page.locator(".details .result-completed").waitFor();
    const events = await page.locator(".timeline .event-name").allTextContents();
    for (const name of ["submit", "start", "finish", "clean"]) assert.ok(events.includes(name), `${name} in ${events}`);
    assert.equal(await page.getByRole("button", { name: "Cancel job…" }).isVisible(), false);
    await screenshots("job-finished");
  });

  it("gives the job the name typed in the form, shown as text", async () => {
    assert.equal(await page.locator(".details dd").nth(1).textContent(), hostileName);
    await noInjectedMarkup();
  });

  it("downloads the full output", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download output" }).click()]);
    assert.equal(download.suggestedFilename(), `flux-job-${jobId}.txt`);
    const text = readFileSync((await download.path())!, "utf8");
    for (const line of [hostileStdout, hostileStderr, "second line", "done"]) assert.ok(text.includes(`${line}\n`), line);
  });

  it("is still logged in after a reload", async () => {
    await page.reload();
    await page.locator(".details .result-completed").waitFor();
    assert.equal(await page.locator(".session .user").textContent(), credentials.user);
    await noInjectedMarkup();
  });

  it("lists the job with its name as text; search and sort work", async () => {
    // More jobs so the list has something to sort; one is named by its (hostile) program.
    const ids = [jobId];
    for (const command of ["true", "false", JSON.stringify(hostileProgram)]) ids.push(await submitByApi(command));
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.waitForURL(/\/ui\/jobs$/);
    await page.waitForFunction(() => document.querySelectorAll("table.jobs tbody tr:not(.empty)").length === 4);
    const hostileRow = page.locator("table.jobs tbody tr", { has: page.locator(".decimal-id", { hasText: ids[3] }) });
    assert.equal(await hostileRow.locator("td.name").textContent(), hostileProgram);
    assert.deepEqual((await page.locator(".decimal-id").allTextContents()).sort(), [...ids].sort());
    await noInjectedMarkup();

    await page.getByRole("button", { name: "Name" }).click();
    assert.equal(await page.locator("th[aria-sort=ascending]").textContent(), "Name ▲");
    const names = await page.locator("table.jobs td.name").allTextContents();
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
    await page.getByLabel("Search").fill("fals");
    assert.deepEqual(await page.locator("table.jobs td.name").allTextContents(), ["false"]);
    assert.match(page.url(), /q=fals/);
    await page.getByLabel("Search").fill("");
    await screenshots("jobs");
  });

  it("refreshes the list by itself while jobs run, without reloading the page", async () => {
    const shortId = await submitByApi("sleep 3"); // long enough to be seen running after the reload
    await page.reload();
    const row = page.locator("table.jobs tbody tr", { has: page.locator(".decimal-id", { hasText: shortId }) });
    await row.locator(".state-run, .state-sched").waitFor();
    await page.evaluate(() => ((window as { __sameDocument?: boolean }).__sameDocument = true));
    await row.locator(".result-completed").waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument), true);
  });

  it("cancels a running job after confirmation", async () => {
    sleeperId = await submitByApi("sleep 30");
    await page.reload();
    await sleeperRow().locator("a.job-id").click();
    await page.waitForURL(/\/ui\/jobs\/\d+$/);
    await page.locator(".details .state-run").waitFor();
    await page.getByRole("button", { name: "Cancel job…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Keep running", "the safe choice has focus");
    await screenshots("job-cancel-dialog", { fullPage: false });
    await dialog.getByRole("button", { name: "Keep running" }).click();
    assert.equal(await dialog.isVisible(), false);
    await page.getByRole("button", { name: "Cancel job…" }).click();
    await dialog.getByRole("button", { name: "Cancel job" }).click();
    await page.getByRole("status").filter({ hasText: "Job is requested to cancel." }).waitFor();
    await page.locator(".details .result-canceled").waitFor();
    assert.equal(await page.getByRole("button", { name: "Cancel job…" }).isVisible(), false);
  });

  it("says so clearly when the broker cannot be reached, and recovers", async function () {
    const testBroker = stack.broker.testBroker;
    if (!testBroker) return this.skip(); // a real broker cannot be stopped from here
    await testBroker.suspend();
    try {
      await page.goto(url("ui/jobs"));
      await page.getByRole("heading", { name: "Flux broker not reachable" }).waitFor();
      assert.match((await page.locator(".error-message").textContent()) ?? "", /broker/i);
      await screenshots("broker-unreachable");
    } finally {
      await testBroker.resume();
    }
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
  });

  it("sends an expired session to the login page, then back to where it was", async () => {
    await context.clearCookies(); // what the browser does when the session cookie expires
    await page.getByRole("link", { name: "Submit", exact: true }).click();
    await page.waitForURL(/\/ui\/login\?next=ui%2Fsubmit$/);
    await page.getByLabel("User name").fill(credentials.user);
    await page.getByLabel("Token").fill(credentials.token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/ui\/submit$/);
    await page.getByRole("heading", { name: "Submit a job" }).waitFor();
  });

  it("logs out, and a reload stays logged out", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/ui\/login$/);
    await page.reload();
    await page.getByLabel("User name").waitFor();
    assert.equal(await page.locator(".session .user").count(), 0);
    const res = await page.request.get(url("v1/jobs"));
    assert.equal(res.status(), 401, "the cookie is gone");
  });

  it("needs no login when auth is off, and works under a proxy's path prefix", async () => {
    const open = await startStack({ auth: false });
    const proxy = await startPrefixProxy(open.url, "flux");
    try {
      await page.goto(proxy.url);
      await page.getByRole("heading", { name: "Jobs" }).waitFor();
      assert.equal(await page.locator(".session").textContent(), "Authentication off");
      await page.getByRole("link", { name: "Submit", exact: true }).click();
      await page.waitForURL(/\/flux\/ui\/submit$/);
      await page.getByLabel("Command").fill("echo through the proxy");
      await page.getByRole("button", { name: "Submit job" }).click();
      await page.waitForURL(/\/flux\/ui\/jobs\/\d+$/);
      await page.locator("pre.output").getByText("through the proxy").waitFor();
      await page.getByText("End of output.").waitFor();
      await page.goto(`${proxy.url}ui/login`);
      await page.getByText("Authentication is turned off on this server").waitFor();
    } finally {
      await proxy.close();
      await open.close();
    }
  });

  let sleeperId = "";
  const sleeperRow = () => page.locator("table.jobs tbody tr", { has: page.locator(".decimal-id", { hasText: sleeperId }) });

  /** Submits through the API with the page's session cookie and CSRF token; returns the exact id. */
  async function submitByApi(command: string): Promise<string> {
    const session = (await (await page.request.get(url("ui/session"))).json()) as { csrfToken: string };
    const res = await page.request.post(url("v1/jobs/submit"), { data: { command }, headers: { "X-CSRF-Token": session.csrfToken } });
    const body = await res.text();
    assert.equal(res.status(), 200, body);
    return /"id":\s*(\d+)/.exec(body)![1];
  }
});
