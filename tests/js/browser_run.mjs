// The browser test's driver: bundle a page's script (browser/<page>_page.mjs) with one release of
// the official JS client (esbuild), serve the page from its own origin (a second local port), open
// it in headless Debian Chromium through playwright-core, and print one JSON report: what the page
// got, and the CORS preflights Chromium sent.
//   node browser_run.mjs <client|use_stream> <sdk alias> <api url> [screenshot.png]
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const [, , pageName, sdk, api, screenshot] = process.argv;
const here = fileURLToPath(new URL(".", import.meta.url));

const bundle = await esbuild.build({
  entryPoints: [join(here, "browser", `${pageName}_page.mjs`)],
  bundle: true, write: false, format: "iife", platform: "browser", target: "chrome120",
  alias: { "langgraph-sdk": sdk }, define: { "process.env.NODE_ENV": '"production"' }, logLevel: "error",
});
const files = {
  "/": ["text/html", await readFile(join(here, "browser", "index.html"))],
  "/bundle.js": ["text/javascript", bundle.outputFiles[0].contents],
  "/favicon.ico": ["image/x-icon", ""],
};
const pages = createServer((req, res) => {
  const [type, body] = files[new URL(req.url, "http://x").pathname] ?? ["text/plain", "not found"];
  res.writeHead(type === "text/plain" ? 404 : 200, { "content-type": type }).end(body);
});
await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
const pageUrl = `http://127.0.0.1:${pages.address().port}/?api=${encodeURIComponent(api)}`;

const profile = await mkdtemp(join(tmpdir(), "switchboard-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const report = { page: pageUrl, preflights: [], preflight_answers: [], console: [] };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => report.console.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => report.console.push(`pageerror: ${err.message}`));
  // Preflights are not requests of the page's own; the DevTools protocol shows them.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  cdp.on("Network.requestWillBeSent", (e) => {
    if (e.initiator?.type === "preflight") report.preflights.push({ method: e.request.method, url: e.request.url });
  });
  cdp.on("Network.responseReceived", (e) => {
    if (e.type !== "Preflight") return;
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    report.preflight_answers.push({ url: e.response.url, status: e.response.status, allow_origin: headers["access-control-allow-origin"] ?? null });
  });
  await page.goto(pageUrl);
  report.result = await page.evaluate(() => window.__result);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await context.close();
  pages.close();
  await rm(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
