// What the browser tests share: a headless Debian Chromium through playwright-core, started as
// this machine needs it (no sandbox as root, no background networking: there is no network), and
// the few waits every test uses.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const WAIT_MS = 10000; /* generous bound on "within a few seconds", also under ASan */

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "redpair-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport: { width: 1280, height: 1000 },
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  return {
    page,
    errors,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function expectText(locator, re, timeout = WAIT_MS) {
  await locator.filter({ hasText: re }).first().waitFor({ timeout });
}

async function confirmIn(page, dialogTitle) {
  const dialog = page.locator("#confirm");
  await dialog.waitFor({ state: "visible" });
  assert.match(await page.locator("#confirm-title").textContent(), dialogTitle);
  await page.locator("#confirm-ok").click();
  await dialog.waitFor({ state: "hidden" });
}

/* Opens a dashboard, signing in unless this origin's tab session already holds the token. */
async function signIn(page, url, token) {
  await page.goto(url + "/");
  await page.locator("#login:visible, #dashboard:visible").first().waitFor({ timeout: WAIT_MS });
  if (await page.locator("#login").isVisible()) {
    await page.locator("#token").fill(token);
    await page.locator("#login-submit").click();
  }
  await page.locator("#dashboard").waitFor({ state: "visible" });
  await expectText(page.locator("#conn"), /^Live$/);
}

async function screenshot(page, name) {
  const dir = process.env.BROWSER_ARTIFACTS || os.tmpdir();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log("screenshot: " + file);
}

module.exports = { WAIT_MS, launch, expectText, confirmIn, signIn, screenshot };
