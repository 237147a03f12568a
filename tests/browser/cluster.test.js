// The dashboard of a cluster (started by run.py: two side-cars n1 and n2 and a witness): the nodes
// panel with who leads and each node's view, election events on the timeline, and a leadership
// transfer through the page.
//
// Environment (set by run.py): REDPAIR_CLUSTER_URLS ("n1=URL,n2=URL"), REDPAIR_ADMIN_TOKEN,
// BROWSER_ARTIFACTS, CHROMIUM.
"use strict";

const assert = require("node:assert/strict");
const { test, before, after } = require("node:test");
const { WAIT_MS, launch, expectText, confirmIn, signIn, screenshot } = require("./browser");

const URLS = Object.fromEntries((process.env.REDPAIR_CLUSTER_URLS || "").split(",").map((kv) => kv.split("=")));
const TOKEN = process.env.REDPAIR_ADMIN_TOKEN;

let browser, page;

async function leaderName() {
  await page.locator("#nodes tr[data-role=leader]").waitFor({ timeout: WAIT_MS });
  return page.locator("#nodes tr[data-role=leader]").getAttribute("data-node");
}

before(async () => {
  assert.ok(URLS.n1 && URLS.n2 && TOKEN, "run through run.py: REDPAIR_CLUSTER_URLS, ... unset");
  browser = await launch();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
});

test("the nodes panel shows every node, who leads, and what each sees", async () => {
  await signIn(page, URLS.n1, TOKEN);
  await page.locator("#cluster").waitFor({ state: "visible", timeout: WAIT_MS });
  await page.locator("#nodes tr").nth(2).waitFor({ timeout: WAIT_MS });
  assert.deepEqual(await page.locator("#nodes tr").evaluateAll((rows) => rows.map((r) => r.dataset.node)),
    ["n1", "n2", "w"]);
  const leader = await leaderName();
  assert.ok(["n1", "n2"].includes(leader), `a side-car leads, not ${leader}`);
  assert.equal(await page.locator('#nodes tr[data-node="w"]').getAttribute("data-role"), "witness");
  await expectText(page.locator('#nodes tr[data-node="w"] td').nth(4), /a up · b up/);
  await expectText(page.locator("#cluster-summary"), new RegExp(`'${leader}' leads|this node leads`));
  await page.locator('#events li[data-kind="election"]').first().waitFor({ timeout: WAIT_MS });
});

test("leadership handed over through the leader's page", async () => {
  const before = await leaderName();
  const other = before === "n1" ? "n2" : "n1";
  await signIn(page, URLS[before], TOKEN);
  await page.locator("#transfer").waitFor({ state: "visible", timeout: WAIT_MS });
  await page.locator("#transfer").click();
  await confirmIn(page, /Hand over leadership/);
  await expectText(page.locator("#notice"), /Leadership transfer requested/);
  await page.locator(`#nodes tr[data-node="${other}"][data-role="leader"]`).waitFor({ timeout: WAIT_MS });
  await page.locator("#transfer").waitFor({ state: "hidden", timeout: WAIT_MS });
  await expectText(page.locator("#cluster-summary"), new RegExp(`'${other}' leads`));
});

test("screenshot", async () => {
  await page.waitForTimeout(1000);
  await screenshot(page, "cluster.png");
  assert.deepEqual(browser.errors.map(String), [], "no uncaught errors in the page");
});
