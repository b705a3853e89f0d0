// One release of the official JS client against a switchboard, scenario by scenario; prints one
// JSON report (scenario -> what the client saw, or {error}) for tests/test_js_clients.py to check.
//   node client_matrix.mjs <sdk18|sdk19|sdk-latest|remote-graph> <url>
const [, , sdk, url] = process.argv;

const summarize = (parts) => parts.map((p) => p.event);
const collect = async (stream) => {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return parts;
};
const failure = (err) => ({ error: String(err?.message ?? err), status: err?.status ?? err?.response?.status ?? null, name: err?.name ?? null });
const human = (text) => ({ messages: [{ type: "human", content: text }] });

// A TCP proxy to `target` that cuts its first connection after `frames` SSE frames of the response.
async function cuttingProxy(target, frames) {
  const net = await import("node:net");
  const state = { cut: false, requests: [] };
  let first = true;
  const server = net.createServer((client) => {
    const cutThis = first;
    first = false;
    const upstream = net.connect(Number(target.port), target.hostname);
    client.on("data", (chunk) => {
      const line = chunk.toString("latin1").split("\r\n")[0];
      const lastEventId = chunk.toString("latin1").match(/\r\nlast-event-id: *([^\r]*)/i)?.[1];
      if (/^[A-Z]+ \//.test(line)) {
        const request = line.replace(/ HTTP.*$/, "").replace(/[0-9a-f-]{36}/g, ":id");
        state.requests.push(lastEventId ? `${request} (Last-Event-ID: ${lastEventId})` : request);
      }
      upstream.write(chunk);
    });
    let seen = "";
    upstream.on("data", (chunk) => {
      if (cutThis) {
        seen += chunk.toString("latin1");
        const body = seen.split("\r\n\r\n").slice(1).join("\r\n\r\n");
        if ((body.match(/\r\n\r\n/g) ?? []).length >= frames) {
          client.write(chunk);
          state.cut = true;
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      client.write(chunk);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      a.on("error", () => b.destroy());
      a.on("close", () => b.destroy());
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(state, { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
}

async function sdkScenarios() {
  const { Client } = await import(sdk);
  const client = new Client({ apiUrl: url });
  const thread = async () => (await client.threads.create()).thread_id;

  return {
    // every stream mode at once, with subgraphs
    async all_modes() {
      const parts = await collect(client.runs.stream(await thread(), "nested_chat", {
        input: human("hi"),
        streamMode: ["values", "updates", "messages", "events", "debug", "custom", "tasks", "checkpoints"],
        streamSubgraphs: true,
      }));
      return {
        events: [...new Set(summarize(parts))],
        last: parts.at(-1)?.event,
        final_values: parts.filter((p) => p.event === "values").at(-1)?.data,
        custom: parts.filter((p) => p.event.startsWith("custom")).map((p) => [p.event.split("|")[0], p.data]),
        debug_checkpoint: parts.find((p) => p.event === "debug" && p.data.type === "checkpoint")?.data.payload,
        subgraph_updates: parts.filter((p) => p.event.startsWith("updates|")).map((p) => p.data),
        partial_contents: parts.filter((p) => p.event === "messages/partial").map((p) => p.data[0].content),
        event_kinds: [...new Set(parts.filter((p) => p.event === "events").map((p) => p.data.event))],
      };
    },
    // messages mode alone: partials typed "ai", each message completed on its own
    async messages() {
      const parts = await collect(client.runs.stream(await thread(), "chat", { input: human("hi"), streamMode: "messages" }));
      return {
        events: summarize(parts),
        shown: parts
          .filter((p) => p.event === "messages/partial" || p.event === "messages/complete")
          .map((p) => [p.event, p.data[0].type, p.data[0].content]),
      };
    },
    async messages_tuple() {
      const parts = await collect(client.runs.stream(await thread(), "chat", { input: human("hi"), streamMode: "messages-tuple" }));
      const tokens = parts.filter((p) => p.event === "messages");
      return { text: tokens.map((p) => p.data[0].content).join(""), nodes: [...new Set(tokens.map((p) => p.data[1].langgraph_node))] };
    },
    async join_stream() {
      const tid = await thread();
      const run = await client.runs.create(tid, "steps", { input: { tag: "j", delay: 0.1 }, streamMode: ["updates"] });
      const parts = await collect(client.runs.joinStream(tid, run.run_id));
      const finished = await collect(client.runs.joinStream(tid, run.run_id));
      return { events: summarize(parts), updates: parts.filter((p) => p.event === "updates").map((p) => p.data), after_end: finished.length };
    },
    async resumable() {
      const tid = await thread();
      const parts = await collect(client.runs.stream(tid, "steps", { input: { tag: "r" }, streamMode: "updates", streamResumable: true }));
      const runId = parts[0].data.run_id;
      const replay = await collect(client.runs.joinStream(tid, runId, { lastEventId: parts[1].id }));
      return { ids: parts.map((p) => p.id), replayed_ids: replay.map((p) => p.id), replayed: replay.map((p) => p.data) };
    },
    // the connection drops mid-stream (a proxy cuts it after the first update): the client
    // reconnects by itself to the Location the stream answered with, sending Last-Event-ID
    async reconnect() {
      const tid = await thread();
      const proxy = await cuttingProxy(new URL(url), 2);
      try {
        const viaProxy = new Client({ apiUrl: proxy.url });
        const parts = await collect(viaProxy.runs.stream(tid, "steps", {
          input: { tag: "c", delay: 0.2 }, streamMode: "updates", streamResumable: true,
        }));
        return { ids: parts.map((p) => p.id), updates: parts.filter((p) => p.event === "updates").map((p) => p.data),
                 cut: proxy.cut, requests: proxy.requests };
      } finally {
        proxy.close();
      }
    },
    async thread_stream() {
      const tid = await thread();
      const controller = new AbortController();
      const seen = [];
      const reading = (async () => {
        try {
          for await (const part of client.threads.joinStream(tid, { signal: controller.signal })) {
            // a run already under way when the stream opened (its start unseen) is skipped: the
            // stream and the run are two requests, and either may reach the server first
            if (!seen.length && !(part.event === "metadata" && part.data.status !== "run_done")) continue;
            seen.push(part);
            if (part.event === "metadata" && part.data.status === "run_done") controller.abort();
          }
        } catch (err) {
          if (err?.name !== "AbortError" && !controller.signal.aborted) throw err;
        }
      })();
      // the thread stream only shows runs that start after it is open: retry a run until it is seen
      for (let i = 0; i < 50 && !seen.length; i++) {
        await client.runs.wait(tid, "steps", { input: { tag: "t" } });
        if (!seen.length) await new Promise((r) => setTimeout(r, 100));
      }
      await reading;
      return { events: summarize(seen) };
    },
    async hitl() {
      const tid = await thread();
      const first = await collect(client.runs.stream(tid, "hitl", { input: { tag: "h" }, streamMode: "updates" }));
      const paused = await client.threads.get(tid);
      const second = await collect(client.runs.stream(tid, "hitl", { command: { resume: "yes" }, streamMode: "updates" }));
      const state = await client.threads.getState(tid);
      return {
        first: first.map((p) => [p.event, p.data]).slice(1),
        status_paused: paused.status,
        second: second.map((p) => [p.event, p.data]).slice(1),
        values: state.values,
        next: state.next,
      };
    },
    async errors() {
      const tid = await thread();
      const parts = await collect(client.runs.stream(tid, "steps", { input: { tag: "e", fail_at: 1 }, streamMode: "updates" }));
      const out = { events: summarize(parts), error: parts.at(-1)?.data, thread_status: (await client.threads.get(tid)).status };
      try {
        await client.threads.get("00000000-0000-0000-0000-000000000000");
        out.missing = "no error";
      } catch (err) {
        out.missing = failure(err);
      }
      try {
        await collect(client.runs.stream(tid, "steps", { input: {}, streamMode: "everything" }));
        out.bad_mode = "no error";
      } catch (err) {
        out.bad_mode = failure(err);
      }
      return out;
    },
    async double_texting() {
      const out = {};
      for (const strategy of ["reject", "interrupt", "rollback", "enqueue"]) {
        const tid = await thread();
        // a first run that would take 30 s unless the strategy stops it (a short one where it must finish)
        const slowDelay = strategy === "interrupt" || strategy === "rollback" ? 30 : 0.3;
        const first = await client.runs.create(tid, "steps", { input: { tag: "a", slow_at: 0, slow_delay: slowDelay } });
        let second;
        const started = Date.now();
        try {
          second = await client.runs.create(tid, "steps", { input: { tag: "b", slow_at: -1 }, multitaskStrategy: strategy });
        } catch (err) {
          await client.runs.join(tid, first.run_id);
          out[strategy] = { rejected: failure(err), first: (await client.runs.get(tid, first.run_id)).status };
          continue;
        }
        const values = await client.runs.join(tid, second.run_id);
        let firstStatus;
        try {
          firstStatus = (await client.runs.get(tid, first.run_id)).status;
        } catch (err) {
          firstStatus = `gone ${failure(err).status}`;
        }
        out[strategy] = { first: firstStatus, messages: values.messages, seconds: (Date.now() - started) / 1000 };
      }
      return out;
    },
  };
}

async function remoteGraphScenarios() {
  const { RemoteGraph } = await import("@langchain/langgraph/remote");
  const { Command } = await import("@langchain/langgraph");
  const { Client } = await import("sdk-latest");
  const client = new Client({ apiUrl: url });
  const thread = async () => ({ configurable: { thread_id: (await client.threads.create()).thread_id } });
  const graph = (id) => new RemoteGraph({ graphId: id, url });

  return {
    async invoke() {
      const values = await graph("chat").invoke(human("hi"), await thread());
      return { contents: values.messages.map((m) => m.content ?? m.kwargs?.content) };
    },
    async stream_modes() {
      const chunks = [];
      const stream = await graph("nested_chat").stream(human("hi"), {
        ...(await thread()), streamMode: ["values", "updates", "messages", "custom", "debug"], subgraphs: true,
      });
      for await (const chunk of stream) chunks.push(chunk);
      return {
        modes: [...new Set(chunks.map(([, mode]) => mode))],
        namespaces: [...new Set(chunks.map(([ns]) => ns.length))],
        custom: chunks.filter(([, mode]) => mode === "custom").map(([, , data]) => data),
      };
    },
    async hitl() {
      const config = await thread();
      let interrupted = null;
      try {
        await graph("hitl").invoke({ tag: "r" }, config);
      } catch (err) {
        // RemoteGraph raises the remote pause as a GraphInterrupt (so it can pause a parent graph)
        if (err?.name !== "GraphInterrupt") throw err;
        interrupted = err.interrupts?.[0]?.value ?? null;
      }
      const state = await graph("hitl").getState(config);
      const resumed = await graph("hitl").invoke(new Command({ resume: "ok" }), config);
      return { interrupt: interrupted, next: state.next, messages: resumed.messages };
    },
    async errors() {
      try {
        await graph("steps").invoke({ tag: "e", fail_at: 0 }, await thread());
        return { error: "no error" };
      } catch (err) {
        return failure(err);
      }
    },
  };
}

const scenarios = sdk === "remote-graph" ? await remoteGraphScenarios() : await sdkScenarios();
const only = process.argv.slice(4);
const report = {};
for (const [name, scenario] of Object.entries(scenarios)) {
  if (only.length && !only.includes(name)) continue;
  try {
    report[name] = await scenario();
  } catch (err) {
    report[name] = { failed: failure(err), stack: String(err?.stack ?? "").split("\n").slice(0, 4).join("\n") };
  }
}
console.log(JSON.stringify(report));
