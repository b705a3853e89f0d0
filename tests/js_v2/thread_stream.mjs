// Drives switchboard with the real SDK's thread-centric protocol (client.threads.stream) and prints
// one JSON object saying what it saw. Usage: node thread_stream.mjs <url> <sse|websocket> <scenario>
import { Client } from "@langchain/langgraph-sdk";
import WebSocket from "ws";

const [url, transport, scenario] = process.argv.slice(2);
const client = new Client({ apiUrl: url });
const human = (content) => ({ messages: [{ type: "human", content }] });

function open(assistantId, threadId) {
  const options = { assistantId, transport };
  if (transport === "websocket") options.webSocketFactory = (u) => new WebSocket(u);
  return threadId ? client.threads.stream(threadId, options) : client.threads.stream(options);
}

async function collectMessages(thread, count) {
  const messages = [];
  for await (const message of thread.messages) {
    const deltas = [];
    for await (const piece of message.text) deltas.push(piece);
    messages.push({ id: message.id, deltas, text: deltas.join("") });
    if (messages.length >= count) break;
  }
  return messages;
}

function lastText(values) {
  const last = values?.messages?.at(-1);
  const content = last?.content ?? last?.kwargs?.content;
  if (typeof content === "string") return content;
  return (content ?? []).map((b) => b.text ?? "").join("");
}

const scenarios = {
  // One message streams in token by token; the final state arrives on `values`.
  async stream() {
    const thread = open("chat");
    const started = await thread.run.start({ input: human("hi"), config: { configurable: { words: 5 } } });
    const messages = await collectMessages(thread, 1);
    const values = await thread.output;
    await thread.close();
    return { run_id: started.run_id, thread_id: thread.threadId, messages, final: lastText(values) };
  },
  // interrupt() pauses the run; input.respond resumes it with the answer.
  async hitl() {
    const thread = open("hitl");
    await thread.run.start({ input: human("hi"), config: { configurable: { words: 1 } } });
    const lifecycle = [];
    let interrupt;
    for await (const event of await thread.subscribe(["lifecycle", "input"])) {
      if (event.method === "lifecycle") lifecycle.push(event.params.data.event);
      if (event.method === "input.requested") interrupt = event.params.data;
      if (event.method === "lifecycle" && event.params.data.event === "interrupted") break;
    }
    await thread.input.respond({ namespace: [], interrupt_id: interrupt.interrupt_id, response: "yes" });
    const state = await waitForIdle(thread.threadId);
    await thread.close();
    return { lifecycle, interrupt, final: lastText(state.values), interrupted: thread.interrupted };
  },
  // A model calls a tool: the call streams on `messages`, its run on `tools`.
  async tools() {
    const thread = open("tools");
    const toolCalls = thread.toolCalls; // subscribed before the run starts
    await thread.run.start({ input: human("add") });
    const calls = [];
    for await (const call of toolCalls) {
      calls.push({ name: call.name, callId: call.callId, input: call.input, output: await call.output });
      break;
    }
    const values = await thread.output;
    await thread.close();
    return { calls, messages: values.messages.map((m) => m.type ?? m._getType?.()) };
  },
  // Double texting: a second run.start on a busy thread, with each strategy.
  async double() {
    const result = {};
    for (const strategy of ["reject", "enqueue", "interrupt", "rollback"]) {
      const thread = open("chat");
      const first = await thread.run.start({ input: human("first"), config: { configurable: { words: 200 } } });
      await waitForStatus(thread.threadId, first.run_id, "running");
      let second;
      try {
        second = await thread.run.start({ input: human("second"), multitaskStrategy: strategy, config: { configurable: { words: 1 } } });
      } catch (error) {
        result[strategy] = { error: error.message ?? String(error) };
        await client.runs.cancel(thread.threadId, first.run_id);
        await thread.close();
        continue;
      }
      if (strategy === "enqueue") await client.runs.cancel(thread.threadId, first.run_id);
      await client.runs.join(thread.threadId, second.run_id);
      const runs = await client.runs.list(thread.threadId);
      const state = await client.threads.getState(thread.threadId);
      result[strategy] = {
        runs: Object.fromEntries(runs.map((r) => [r.run_id === first.run_id ? "first" : "second", r.status])),
        humans: state.values.messages.filter((m) => m.type === "human").map((m) => m.content),
      };
      await thread.close();
    }
    return result;
  },
};

async function waitForIdle(threadId) {
  for (const deadline = Date.now() + 30000; Date.now() < deadline; ) {
    const thread = await client.threads.get(threadId);
    if (thread.status === "idle") return client.threads.getState(threadId);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("thread did not become idle");
}

async function waitForStatus(threadId, runId, status) {
  for (const deadline = Date.now() + 30000; Date.now() < deadline; ) {
    if ((await client.runs.get(threadId, runId)).status === status) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`run ${runId} never became ${status}`);
}

const result = await scenarios[scenario]();
console.log(JSON.stringify(result));
process.exit(0);
