// The local WhatsApp simulator (MOCK_TWILIO only): what you type goes to our Twilio webhook signed as Twilio
// would sign it, from your number; the conversation shown is your real one (GET /api/v1/messages), so the
// assistant's replies appear once the sender hands them to the local Twilio stand-in.
import { authed } from "./api.js";
import { busy, el, timeOf, toastError } from "./ui.js";

const POLL_MS = 1500;

export function mountSimulator(root, { quick = [], onSent = null } = {}) {
  const list = el("div", { class: "chat", role: "log", "aria-live": "polite", "aria-label": "Simulated WhatsApp conversation" });
  const input = el("input", { id: "sim-text", type: "text", autocomplete: "off", placeholder: "Message", maxlength: "1600" });
  const send = el("button", { class: "btn btn-primary", type: "submit", id: "sim-send", text: "Send" });
  const form = el("form", { class: "sim-form" }, el("label", { for: "sim-text", class: "visually-hidden", text: "Message" }), input, send);
  const quickRow = el("div", { class: "sim-quick" });
  root.replaceChildren(el("div", { class: "sim" }, list, form, quickRow));

  let echoes = []; // sent here, not yet in the conversation (a "link" message never is: it is not for the assistant)
  let server = [];
  let timer = null;

  function render() {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items = [
      ...server.map((m) => ({ mine: m.direction === "INBOUND", body: m.body, at: m.created_at, status: m.delivery_status })),
      ...echoes.map((e) => ({ mine: true, body: e.body, at: e.at, status: "sent to the webhook" })),
    ].sort((a, b) => new Date(a.at) - new Date(b.at));
    list.replaceChildren(
      ...(items.length ? [] : [el("div", { class: "bubble note", text: "No messages yet. Say hi!" })]),
      ...items.map((m) =>
        el("div", { class: "bubble " + (m.mine ? "me" : "them"), "data-direction": m.mine ? "in" : "out" }, m.body, el("time", { datetime: m.at, text: timeOf(m.at) })),
      ),
    );
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  async function refresh() {
    try {
      const page = await authed("GET", "/messages?limit=40");
      server = page.messages.slice().reverse();
      const inbound = server.filter((m) => m.direction === "INBOUND");
      echoes = echoes.filter((e) => !inbound.some((m) => m.body === e.body && new Date(m.created_at) >= new Date(e.at) - 5000));
      render();
    } catch {
      // A failed poll is retried on the next tick; the send button reports its own errors.
    }
  }

  async function submit(text) {
    const body = text.trim();
    if (!body) return;
    await busy(send, async () => {
      try {
        await authed("POST", "/dev/simulator/messages", { text: body });
        echoes.push({ body, at: new Date().toISOString() });
        input.value = "";
        render();
        if (onSent) onSent(body);
      } catch (error) {
        toastError(error);
      }
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(input.value);
  });

  function setQuick(texts) {
    quickRow.replaceChildren(
      ...texts.map((t) => el("button", { type: "button", class: "btn", onclick: () => submit(t.text) }, t.label)),
    );
    quickRow.hidden = texts.length === 0;
  }
  setQuick(quick);

  function tick() {
    if (!document.hidden) refresh();
  }
  refresh();
  timer = setInterval(tick, POLL_MS);
  return { refresh, setQuick, stop: () => clearInterval(timer) };
}
