// A chat page on @langchain/react's useStream, for the headless-browser test. The server's URL, the
// thread id and the transport come from the query string; the thread id is written back so a reload rejoins it.
// `window.__stream` lets the test submit and respond; `window.__seen` records every text the last
// AI message showed, render by render.
import React, { useEffect } from "react";
import { createRoot } from "react-dom/client";
import { useStream } from "@langchain/react";

const query = new URLSearchParams(location.search);
window.__seen = [];

function contentText(message) {
  const content = message.content;
  if (typeof content === "string") return content;
  return (content ?? []).map((block) => (typeof block === "string" ? block : block.text ?? "")).join("");
}

function Chat() {
  const stream = useStream({
    apiUrl: query.get("api"),
    assistantId: query.get("assistant") ?? "chat",
    threadId: query.get("threadId") ?? undefined,
    transport: query.get("transport") ?? "sse",
    onThreadId: (threadId) => {
      const next = new URLSearchParams(location.search);
      next.set("threadId", threadId);
      history.replaceState(null, "", `?${next}`);
    },
  });
  window.__stream = stream;
  const messages = stream.messages.map((m) => ({ type: m.type ?? m._getType?.(), id: m.id, text: contentText(m) }));
  const lastAi = messages.filter((m) => m.type === "ai").at(-1);
  useEffect(() => {
    if (lastAi && window.__seen.at(-1) !== lastAi.text) window.__seen.push(lastAi.text);
  });
  window.__view = { messages, isLoading: stream.isLoading, interrupt: stream.interrupt?.value ?? null, error: stream.error ? String(stream.error?.message ?? stream.error) : null, threadId: stream.threadId };
  return (
    <ul id="messages" data-loading={String(stream.isLoading)}>
      {messages.map((m, i) => <li key={i} data-type={m.type}>{m.text}</li>)}
    </ul>
  );
}

createRoot(document.getElementById("root")).render(<Chat />);
