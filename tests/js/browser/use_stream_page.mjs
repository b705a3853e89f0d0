// A React page as agent-chat-ui builds its chat: `useStream` from the official client's React
// entry point, one message submitted with agent-chat-ui's options, the answer rendered as it
// streams. window.__result: the messages once the stream has finished loading.
import { createElement as h, useEffect, useRef } from "react";
import { createRoot } from "react-dom/client";
import { useStream } from "langgraph-sdk/react"; // an npm alias chosen when the page is bundled

const api = new URLSearchParams(location.search).get("api");
let finish;
window.__result = new Promise((resolve) => (finish = resolve));
const text = (m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content));

function Chat() {
  const stream = useStream({ apiUrl: api, assistantId: "chat", messagesKey: "messages" });
  const sent = useRef(false);
  const loaded = useRef(false);
  useEffect(() => {
    if (sent.current) return;
    sent.current = true;
    stream.submit(
      { messages: [{ type: "human", content: [{ type: "text", text: "hello?" }] }] },
      { streamMode: ["values", "messages-tuple"], streamSubgraphs: true, streamResumable: true },
    );
  }, []);
  useEffect(() => {
    if (stream.isLoading) loaded.current = true;
    else if (loaded.current) {
      document.getElementById("status").textContent = stream.error ? `failed: ${stream.error}` : "done";
      finish({ messages: stream.messages.map((m) => [m.type, text(m)]), error: stream.error ? String(stream.error) : null });
    }
  }, [stream.isLoading]);
  return h("div", null,
    h("p", null, `status: ${stream.isLoading ? "streaming" : "idle"}`),
    h("ul", null, stream.messages.map((m) => h("li", { key: m.id }, `${m.type}: ${text(m)}`))));
}

createRoot(document.getElementById("root")).render(h(Chat));
