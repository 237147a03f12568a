// The dashboard in a real headless Chromium against a running redpair (started by run.py):
// sign-in, both backends with their states, a failover and maintenance through the page, a killed
// backend turning down, a refused action showing the API's error, and a screenshot.
//
// Environment (set by run.py): REDPAIR_ADMIN_URL, REDPAIR_ADMIN_TOKEN, REDIS_PIDS ("a=PID,b=PID"),
// BROWSER_ARTIFACTS (where the screenshot goes), CHROMIUM (default /usr/bin/chromium).
"use strict";

const assert = require("node:assert/strict");
const { test, before, after } = require("node:test");
const { WAIT_MS, launch, expectText, confirmIn: confirm, screenshot } = require("./browser");

const URL = process.env.REDPAIR_ADMIN_URL;
const TOKEN = process.env.REDPAIR_ADMIN_TOKEN;
const PIDS = Object.fromEntries((process.env.REDIS_PIDS || "").split(",").map((kv) => kv.split("=")));

let browser, page;

const field = (backend, name) => page.locator(`[data-backend="${backend}"] [data-field="${name}"]`);
const confirmIn = (title) => confirm(page, title);

before(async () => {
  assert.ok(URL && TOKEN && PIDS.a && PIDS.b, "run through run.py: REDPAIR_ADMIN_URL, ... unset");
  browser = await launch();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
});

test("sign-in: a wrong token is refused with the API's message, the right one shows the pair", async () => {
  await page.goto(URL + "/");
  await page.locator("#login").waitFor({ state: "visible" });
  assert.equal(await page.locator("#dashboard").isVisible(), false);

  await page.locator("#token").fill("not-the-token");
  await page.locator("#login-submit").click();
  await expectText(page.locator("#login-error"), /wrong admin token/);
  assert.equal(await page.locator("#login").isVisible(), true);

  await page.locator("#token").fill(TOKEN);
  await page.locator("#login-submit").click();
  await page.locator("#dashboard").waitFor({ state: "visible" });
  await expectText(page.locator("#conn"), /^Live$/);
});

test("both backends render with role, state, address and probe", async () => {
  for (const name of ["a", "b"]) {
    await expectText(field(name, "state"), /^in sync$/);
    assert.match(await field(name, "address").textContent(), /^127\.0\.0\.1:\d+$/);
    await expectText(field(name, "probe-latency"), /\d+ (µs|ms)/);
    assert.match(await field(name, "memory").textContent(), /B/);
  }
  assert.equal(await field("a", "role").textContent(), "primary");
  assert.equal(await field("b", "role").textContent(), "secondary");
  assert.equal(await page.locator('[data-stat="primary"]').textContent(), "a");
  assert.match(await page.locator('[data-stat="epoch"]').first().textContent(), /^\d+$/);
  assert.match(await page.locator('[data-stat="write_ack"]').textContent(), /^(all|primary)$/);
  assert.match(await page.locator('[data-stat="write_marks"]').textContent(), /^(quiet|every-run)$/);
  // The token is kept for the tab: a reload goes straight to the dashboard.
  await page.reload();
  await expectText(field("a", "state"), /^in sync$/);
  assert.equal(await page.locator("#login").isVisible(), false);
});

test("cancelling the confirmation changes nothing", async () => {
  await page.locator("#failover").click();
  await page.locator("#confirm").waitFor({ state: "visible" });
  await page.locator("#confirm-cancel").click();
  await page.locator("#confirm").waitFor({ state: "hidden" });
  await page.waitForTimeout(1500); /* two polls */
  assert.equal(await field("a", "role").textContent(), "primary");
  assert.equal(await page.locator("#notice").isVisible(), false);
});

test("failover through the page swaps the roles and is on the timeline", async () => {
  const epoch = Number(await page.locator('[data-stat="epoch"]').textContent());
  await page.locator("#failover").click();
  await confirmIn(/Fail over/);
  await expectText(field("b", "role"), /^primary$/);
  await expectText(field("a", "role"), /^secondary$/);
  await expectText(page.locator('[data-stat="primary"]'), /^b$/);
  await expectText(page.locator("#notice"), /Failover requested/);
  await page.locator('#events li[data-kind="failover"]').first().waitFor({ timeout: WAIT_MS });
  assert.ok(Number(await page.locator('[data-stat="epoch"]').textContent()) > epoch, "epoch went up");
  await expectText(page.locator('[data-stat="failovers"]'), /^[1-9]/);
});

test("maintenance on and off through the page", async () => {
  const button = page.locator('[data-backend="a"] [data-action="maintenance"]');
  await button.click();
  await confirmIn(/Start maintenance on 'a'/);
  await expectText(field("a", "state"), /^maintenance$/);
  await expectText(button, /End maintenance/);
  await button.click();
  await confirmIn(/End maintenance on 'a'/);
  await expectText(field("a", "state"), /^in sync$/);
  await expectText(button, /Start maintenance/);
  assert.equal(await field("b", "role").textContent(), "primary");
});

test("a killed backend turns down within seconds", async () => {
  process.kill(Number(PIDS.a), "SIGKILL");
  await expectText(field("a", "state"), /^down$/);
  await expectText(field("a", "probe-latency"), /no answer/);
  await expectText(field("b", "state"), /^in sync$/);
});

test("a refused action shows the API's error", async () => {
  await page.locator('[data-backend="a"] [data-action="promote"]').click();
  await confirmIn(/Make 'a' primary/);
  const notice = page.locator('#notice[data-kind="error"]');
  await notice.waitFor({ timeout: WAIT_MS });
  const text = await notice.textContent();
  assert.match(text, /refused \(409\): .*'a' is down/);
  assert.equal(await field("b", "role").textContent(), "primary");
});

test("alone, there is no cluster panel", async () => {
  assert.equal(await page.locator("#cluster").isVisible(), false);
});

test("screenshot", async () => {
  await page.waitForTimeout(1000); /* one more poll so the charts have a few points */
  await screenshot(page, "dashboard.png");
  assert.deepEqual(browser.errors.map(String), [], "no uncaught errors in the page");
});
