// The local WhatsApp simulator (MOCK_TWILIO only): what you type goes to our Twilio webhook signed as Twilio
// would sign it, from your number; the conversation shown is your real one (GET /api/v1/messages), so the
// assistant's replies appear once the sender hands them to the local Twilio stand-in.
//
// Each poll appends only the messages not shown yet (and updates the marks of those that are): bubbles are
// never rebuilt, so nothing re-animates and a screen reader hears each new message once. Typing dots show
// while the API says the assistant is working on a message (handed out to it, reply not sent yet), the
// span the WhatsApp typing indicator covers.
import { authed } from "./api.js";
import { busy, el, timeOf, toastError } from "./ui.js";

const POLL_MS = 1500;
const FAST_POLL_MS = 600; // right after a send: the dots should appear as soon as the hand-off happens

// Twilio's delivery statuses of the assistant's messages, as WhatsApp draws them.
const MARKS = {
  queued: ["🕓", "Queued"],
  accepted: ["🕓", "Queued"],
  sending: ["🕓", "Sending"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["!", "Not delivered"],
  undelivered: ["!", "Not delivered"],
};

function mark(status) {
  const [glyph, label] = MARKS[status] || ["✓", "Sent"];
  return el("span", { class: `mark mark-${status || "sent"}`, title: label, "data-status": status || "" }, el("span", { "aria-hidden": "true", text: glyph }), el("span", { class: "visually-hidden", text: label }));
}

export function mountSimulator(root, { quick = [], onSent = null, onReply = null } = {}) {
  // Focusable: the conversation scrolls, and a keyboard must be able to scroll it.
  const list = el("div", { class: "chat", role: "log", tabindex: "0", "aria-live": "polite", "aria-label": "Simulated WhatsApp conversation" });
  const typing = el("div", { class: "bubble them typing", id: "sim-typing", role: "status", "aria-label": "Your assistant is typing" }, el("span"), el("span"), el("span"));
  const empty = el("div", { class: "bubble note", text: "No messages yet. Say hi!" });
  const input = el("input", { id: "sim-text", type: "text", autocomplete: "off", placeholder: "Message", maxlength: "1600" });
  const send = el("button", { class: "btn btn-primary", type: "submit", id: "sim-send", text: "Send" });
  const form = el("form", { class: "sim-form" }, el("label", { for: "sim-text", class: "visually-hidden", text: "Message" }), input, send);
  const quickRow = el("div", { class: "sim-quick" });
  root.replaceChildren(el("div", { class: "sim" }, list, form, quickRow));
  list.append(empty);

  const shown = new Map(); // message id -> its bubble
  let loaded = false; // after the first page: a new message of the assistant's is news (onReply)
  let echoes = []; // sent here, not yet in the conversation: {body, at, node} (a "link" message never is)
  let timer = null;
  let fastUntil = 0;

  function bubble({ mine, body, at, status }) {
    const meta = el("span", { class: "meta" }, el("time", { datetime: at, text: timeOf(at) }));
    if (!mine) meta.append(mark(status));
    return el("div", { class: "bubble " + (mine ? "me" : "them"), "data-direction": mine ? "in" : "out" }, body, meta);
  }

  function place(node) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    empty.remove();
    // New messages go above the dots, which always sit last while they show.
    if (typing.isConnected) list.insertBefore(node, typing);
    else list.append(node);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function setTyping(on) {
    if (on === typing.isConnected) return;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (on) {
      empty.remove();
      list.append(typing);
    } else typing.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  async function refresh() {
    try {
      const page = await authed("GET", "/messages?limit=40");
      for (const m of page.messages.slice().reverse()) {
        const known = shown.get(m.id);
        if (known) {
          const current = known.querySelector(".mark");
          if (current && current.dataset.status !== (m.delivery_status || "")) current.replaceWith(mark(m.delivery_status));
          continue;
        }
        const mine = m.direction === "INBOUND";
        // The echo of a message sent from here becomes the stored message: same place, no flicker.
        const echo = mine && echoes.find((e) => e.body === m.body);
        const node = bubble({ mine, body: m.body, at: m.created_at, status: m.delivery_status });
        if (echo) {
          echoes = echoes.filter((e) => e !== echo);
          echo.node.replaceWith(node);
        } else place(node);
        shown.set(m.id, node);
        if (!mine && loaded && onReply) onReply(m);
      }
      loaded = true;
      setTyping(page.assistant_typing);
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
        const at = new Date().toISOString();
        const node = bubble({ mine: true, body, at });
        echoes.push({ body, at, node });
        place(node);
        input.value = "";
        fastUntil = Date.now() + 20000;
        schedule(0);
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

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      schedule(Date.now() < fastUntil || typing.isConnected ? FAST_POLL_MS : POLL_MS);
    }, delay);
  }
  refresh();
  schedule(POLL_MS);
  return {
    refresh,
    setQuick,
    // Type and send `text`, as if the person had: the capability panel's examples use it.
    say: (text) => {
      input.value = text;
      input.focus();
      return submit(text);
    },
    stop: () => clearTimeout(timer),
  };
}
