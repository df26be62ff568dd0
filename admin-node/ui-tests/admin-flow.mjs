// Browser test of the admin UI, end to end through the proxy:
// log in, create a project with a provider key, create a token and read its secret off the
// page, call the proxy with it, revoke it in the UI, and see the proxy refuse it
// (401 token_inactive). Takes a screenshot of every page into SCREENSHOT_DIR.
//
// Env: ADMIN_BASE_URL (http://127.0.0.1:PORT of `llm-proxy up`), LLM_PROXY_MANAGEMENT_TOKEN,
// PROVIDER_KEY (the OpenAI key to store; default a test key), SCREENSHOT_DIR (optional),
// CHROMIUM_PATH (optional; default `command -v chromium`).

import { execSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = (process.env.ADMIN_BASE_URL || "").replace(/\/$/, "");
const managementToken = process.env.LLM_PROXY_MANAGEMENT_TOKEN || "";
const providerKey = process.env.PROVIDER_KEY || "sk-proj-browser-test-key-00009876";
const shots = process.env.SCREENSHOT_DIR || "";
if (!base || !managementToken) {
  console.error("admin-flow: set ADMIN_BASE_URL and LLM_PROXY_MANAGEMENT_TOKEN");
  process.exit(2);
}

function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const path = execSync(`command -v ${name}`, { shell: "/bin/sh" }).toString().trim();
      if (path) return path;
    } catch {}
  }
  throw new Error("chromium not found (apt-get install -y chromium)");
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function callProxy(secret) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch {}
  return { status: res.status, body, text };
}

const step = (name) => console.log(`admin-flow: ${name}`);

const browser = await chromium.launch({
  executablePath: chromiumPath(),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
const page = await context.newPage();
page.on("dialog", (dialog) => dialog.accept());
page.setDefaultTimeout(15000);
if (shots) mkdirSync(shots, { recursive: true });

let failed = false;
try {
  step("login");
  await page.goto(`${base}/admin`);
  check(page.url().endsWith("/admin/login"), `expected the login page, got ${page.url()}`);
  await shot(page, "01-login");
  await page.fill("#token", "not-the-management-token");
  await page.click("button[type=submit]");
  await page.waitForSelector(".flash-error");
  await page.fill("#token", managementToken);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("button[type=submit]")]);
  check((await page.textContent("h1")) === "Dashboard", "dashboard heading");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "llmp_admin_session");
  check(session && session.httpOnly && session.sameSite === "Strict" && session.path === "/admin",
    `session cookie flags: ${JSON.stringify(session)}`);
  check(!cookies.some((c) => c.value.includes(managementToken)), "management token in a cookie");
  await shot(page, "02-dashboard");

  step("create a project with a provider key");
  await page.click("nav >> text=Projects");
  const name = `browser-${Date.now()}`;
  await page.fill("#name", name);
  await page.fill("#key_openai", providerKey);
  await Promise.all([page.waitForURL(/\/admin\/projects\/[0-9a-f-]{36}$/), page.click("#create-project button[type=submit]")]);
  check((await page.textContent(".flash")).includes("Project created"), "project created flash");
  const projectId = page.url().split("/").pop();
  const hint = providerKey.slice(0, 3) + "..." + providerKey.slice(-4);
  check((await page.content()).includes(hint), "key hint shown");
  check(!(await page.content()).includes(providerKey), "the provider key itself is never shown");
  await shot(page, "03-project");
  await page.goto(`${base}/admin/projects`);
  await shot(page, "04-projects");

  step("create a token and read it off the page");
  await page.goto(`${base}/admin/tokens?project_id=${projectId}`);
  await page.fill("#duration_minutes", "60");
  await page.fill("#max_requests", "100");
  await Promise.all([page.waitForSelector("#token-secret"), page.click("#create-token button[type=submit]")]);
  const secret = (await page.textContent("#token-secret")).trim();
  const tokenId = (await page.textContent("#token-id")).trim();
  check(/^wt_[A-Za-z0-9_-]{32}$/.test(secret), `token secret shape: ${secret}`);
  check(await page.isVisible("#copy-token"), "copy button");
  await shot(page, "05-token-created");

  step("call the proxy with the token");
  const ok = await callProxy(secret);
  check(ok.status === 200, `proxy call with a fresh token: ${ok.status} ${ok.text}`);
  check(ok.body && Array.isArray(ok.body.choices), `chat completion body: ${ok.text}`);

  step("revoke the token in the UI");
  await page.goto(`${base}/admin/tokens?project_id=${projectId}`);
  check(!(await page.content()).includes(secret), "the secret is not shown again");
  await shot(page, "06-tokens");
  const row = page.locator(`tr[data-token-id="${tokenId}"]`);
  await Promise.all([page.waitForSelector(".flash-success"), row.locator("button:has-text('Revoke')").click()]);
  check((await page.textContent(".flash-success")).includes("revoked"), "revoked flash");
  check((await row.locator(".status").textContent()).includes("revoked"), "row shows revoked");

  step("the proxy refuses the revoked token");
  const deadline = Date.now() + 2000;
  let refused;
  do {
    refused = await callProxy(secret);
    if (refused.status === 401) break;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  check(refused.status === 401, `after revocation: ${refused.status} ${refused.text}`);
  check(refused.body && refused.body.error && refused.body.error.code === "token_inactive",
    `error code after revocation: ${refused.text}`);

  step("audit pages");
  await page.goto(`${base}/admin/audit`);
  check((await page.content()).includes("token.revoke"), "audit lists the revocation");
  await shot(page, "07-audit");
  await page.click("#audit tbody tr:first-child a");
  await page.waitForSelector("pre.json");
  await shot(page, "08-audit-detail");
  await page.goto(`${base}/admin`);
  await shot(page, "09-dashboard-after");

  step("logout");
  await Promise.all([page.waitForURL(/\/admin\/login$/), page.click("form.logout button")]);
  await page.goto(`${base}/admin/tokens`);
  check(page.url().endsWith("/admin/login"), "logged out");
  console.log("admin-flow: ok");
} catch (error) {
  failed = true;
  console.error(`admin-flow: FAILED at ${page.url()}: ${error.stack || error}`);
  try { await shot(page, "failure"); } catch {}
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
