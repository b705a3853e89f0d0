// Drives app.jsx (useStream of @langchain/react) in headless Debian chromium against switchboard and
// prints one JSON object of what the page showed. Usage: node browser.mjs <url> <sse|websocket>
// The page comes from another origin than the API's (playwright answers it itself), as a real app's
// would: every request to switchboard is cross-origin (CORS). Bundling is esbuild's.
import { build } from "esbuild";
import { chromium } from "playwright-core";

const [url, transport] = process.argv.slice(2);
const bundle = await build({ entryPoints: [new URL("./app.jsx", import.meta.url).pathname], bundle: true, write: false, format: "esm", jsx: "automatic", define: { "process.env.NODE_ENV": '"production"' }, logLevel: "silent" });
const script = bundle.outputFiles[0].text;
const html = `<!doctype html><html><body><div id="root"></div><script type="module" src="/__app/app.js"></script></body></html>`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // The page's origin is answered by playwright itself (page.route), which Chromium's local
    // network access checks count as a public page: they would block its WebSocket to 127.0.0.1.
    "--disable-features=LocalNetworkAccessChecks"],
});
const page = await browser.newPage();
const PAGE = "http://localhost:5999"; // nothing listens there: playwright fulfils the page
await page.route(`${PAGE}/__app/**`, (route) => {
  const path = new URL(route.request().url()).pathname;
  if (path.endsWith(".js")) return route.fulfill({ contentType: "text/javascript", body: script });
  return route.fulfill({ contentType: "text/html", body: html });
});
const human = (content) => ({ messages: [{ type: "human", content }] });
const view = () => page.evaluate(() => window.__view);
async function until(predicate, what, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await view();
    if (v && predicate(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await page.waitForTimeout(25);
  }
}
async function open(query) {
  await page.goto(`${PAGE}/__app/index.html?api=${encodeURIComponent(url)}&transport=${transport}&${query}`);
  await page.waitForFunction(() => window.__stream !== undefined);
}
// submit() resolves when the run ends: start it and return at once, keeping any error for later.
const submit = (input, options) => page.evaluate(([i, o]) => { window.__stream.submit(i, o).catch((e) => { window.__submitError = String(e?.message ?? e); }); }, [input, options]);
const humans = (v) => v.messages.filter((m) => m.type === "human").map((m) => m.text);
const ais = (v) => v.messages.filter((m) => m.type === "ai").map((m) => m.text);
const result = {};

// 1. A message streams in: the page shows it growing, token by token.
await open("assistant=chat");
await submit(human("hello"), { config: { configurable: { words: 10 } } });
let v = await until((x) => !x.isLoading && ais(x).length === 1 && ais(x)[0].endsWith("w9"), "the answer");
result.stream = { seen: await page.evaluate(() => window.__seen), final: ais(v)[0], humans: humans(v) };

// 2. Double texting: a second message while the first streams, with each strategy.
result.double = {};
for (const strategy of ["enqueue", "interrupt", "rollback", "reject"]) {
  await open("assistant=chat");
  await submit(human("first"), { config: { configurable: { words: 40 } } });
  await until((x) => ais(x).length === 1 && ais(x)[0].length > 12, "the first answer streaming");
  await page.evaluate(() => { window.__submitError = null; });
  await submit(human("second"), { multitaskStrategy: strategy, config: { configurable: { words: 2 } } });
  const threadId = (await view()).threadId;
  const settled = async () => {
    const runs = await (await fetch(`${url}/threads/${threadId}/runs`)).json();
    const done = runs.every((r) => !["pending", "running"].includes(r.status));
    return done && (strategy === "reject" || runs.length === 2 || strategy === "rollback");
  };
  for (const deadline = Date.now() + 30000; !(await settled()); ) {
    if (Date.now() > deadline) throw new Error(`${strategy}: runs never settled`);
    await page.waitForTimeout(25);
  }
  const state = await (await fetch(`${url}/threads/${threadId}/state`)).json();
  const serverHumans = state.values.messages.filter((m) => m.type === "human").map((m) => m.content);
  const serverView = state.values.messages.map((m) => `${m.type}:${typeof m.content === "string" ? m.content : m.content.map((b) => b.text ?? "").join("")}`);
  // useStream keeps showing the partial answer of a run stopped mid-message (the reference server
  // gives the same page): compare the messages the thread has, and report the others.
  const kept = new Set(state.values.messages.map((m) => m.id));
  const pageView = (x) => x.messages.filter((m) => kept.has(m.id)).map((m) => `${m.type}:${m.text}`);
  v = await until((x) => !x.isLoading && JSON.stringify(pageView(x)) === JSON.stringify(serverView), `${strategy}: the page to show the thread's messages ${JSON.stringify(serverView)}`, 10000);
  const stale = v.messages.filter((m) => !kept.has(m.id)).map((m) => `${m.type}:${m.text}`);
  const runs = await (await fetch(`${url}/threads/${threadId}/runs`)).json();
  result.double[strategy] = { humans: humans(v), server: serverHumans, submitError: await page.evaluate(() => window.__submitError), shown: pageView(v), stale, runs: runs.map((r) => r.status).reverse() };
}

// 3. interrupt() pauses; respond() resumes.
await open("assistant=hitl");
await submit(human("hi"), { config: { configurable: { words: 1 } } });
v = await until((x) => x.interrupt !== null && !x.isLoading, "the interrupt");
result.hitl = { interrupt: v.interrupt };
await page.evaluate(() => { window.__stream.respond("yes"); });
v = await until((x) => !x.isLoading && x.interrupt === null && ais(x).at(-1)?.startsWith("echo:answer:yes") && ais(x).at(-1).endsWith("w7"), "the resumed answer");
result.hitl.ais = ais(v);

// 4. A reload mid-stream: the page rejoins the thread's stream; nothing lost or repeated.
await open("assistant=chat");
await submit(human("reload me"), { config: { configurable: { words: 40 } } });
await until((x) => ais(x).length === 1 && ais(x)[0].length > 20, "the answer streaming");
const before = (await view()).threadId;
await page.reload();
await page.waitForFunction(() => window.__stream !== undefined);
v = await until((x) => !x.isLoading && ais(x).length === 1 && ais(x)[0].endsWith("w39"), "the answer after the reload");
result.reload = { sameThread: v.threadId === before, humans: humans(v), ais: ais(v), seen: await page.evaluate(() => window.__seen) };

await browser.close();
console.log(JSON.stringify(result));
