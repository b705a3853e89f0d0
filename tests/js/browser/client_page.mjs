// The page's script: the official JS client in a browser page served from another origin than the
// API. It streams a run and double-texts (a second message while the first is being answered,
// multitaskStrategy "interrupt"), shows what it got, and leaves a summary in window.__result.
import { Client } from "langgraph-sdk"; // an npm alias chosen when the page is bundled (see browser_run.mjs)

const params = new URLSearchParams(location.search);
const log = (line) => {
  const li = document.createElement("li");
  li.textContent = `${((performance.now()) / 1000).toFixed(2)} s  ${line}`;
  document.getElementById("log").append(li);
};

async function main() {
  const client = new Client({ apiUrl: params.get("api") });
  const thread = await client.threads.create();
  log(`thread ${thread.thread_id}`);

  // one streamed answer, token by token
  const answer = [];
  const events = [];
  for await (const part of client.runs.stream(thread.thread_id, "chat", {
    input: { messages: [{ type: "human", content: [{ type: "text", text: "hello?" }] }] },
    streamMode: ["messages", "values"],
  })) {
    events.push(part.event);
    if (part.event === "messages/complete") {
      answer.push(part.data[0].content);
      log(`answer: ${part.data[0].content}`);
    }
  }

  // double texting: the first message is still being answered when the second arrives
  const first = await client.runs.create(thread.thread_id, "steps", { input: { tag: "first", slow_at: 0, slow_delay: 30 } });
  log(`first run ${first.run_id}`);
  const second = [];
  for await (const part of client.runs.stream(thread.thread_id, "steps", {
    input: { tag: "second", slow_at: -1 }, streamMode: "updates", multitaskStrategy: "interrupt", // slow_at stays in the state otherwise
  })) {
    if (part.event === "updates") {
      second.push(...Object.values(part.data).flatMap((u) => u.messages));
      log(`second: ${JSON.stringify(part.data)}`);
    }
  }
  const firstStatus = (await client.runs.get(thread.thread_id, first.run_id)).status;
  log(`first run ended ${firstStatus}`);
  return { answer, events: [...new Set(events)], last: events.at(-1), second, firstStatus, origin: location.origin };
}

window.__result = main().then(
  (result) => {
    document.getElementById("status").textContent = "done";
    return result;
  },
  (err) => {
    document.getElementById("status").textContent = `failed: ${err}`;
    return { failed: String(err?.message ?? err) };
  },
);
