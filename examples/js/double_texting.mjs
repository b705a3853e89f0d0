// The double-texting example (seed scenario), unchanged, with the official JS client.
//   cd examples/js && npm install && node double_texting.mjs [http://127.0.0.1:8123]
import { Client } from "@langchain/langgraph-sdk";

const client = new Client({ apiUrl: process.argv[2] ?? "http://127.0.0.1:8123" });
const assistantId = "agent";
const thread = await client.threads.create();

// the first run will be interrupted
let interruptedRun = await client.runs.create(
  thread["thread_id"],
  assistantId,
  { input: { messages: [{ role: "human", content: "what's the weather in sf?" }] } }
);
// sleep a bit to get partial outputs from the first run
await new Promise(resolve => setTimeout(resolve, 2000));

let run = await client.runs.create(
  thread["thread_id"],
  assistantId,
  {
    input: { messages: [{ role: "human", content: "what's the weather in nyc?" }] },
    multitaskStrategy: "interrupt"
  }
);

// wait until the second run completes
const state = await client.runs.join(thread["thread_id"], run["run_id"]);
const first = await client.runs.get(thread["thread_id"], interruptedRun["run_id"]);
console.log(JSON.stringify({ first_status: first.status, state }));
