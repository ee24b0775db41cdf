// The Assistant section: status with live progress while provisioning, create (through Checkout when there is
// no subscription), recreate and delete with confirmation, and the model choice.
import { ApiError, authed } from "./api.js";
import { busy, confirmDialog, el, showError, toast, toastError } from "./ui.js";

const POLL_MS = 1500;
const STEPS = [
  ["placing", "Finding a machine for your assistant"],
  ["creating", "Creating its private container"],
  ["starting", "Starting OpenClaw"],
  ["connecting", "Waiting for it to check in"],
  ["ready", "Ready — it will say hi on WhatsApp"],
];
const PHASE_TEXT = {
  ...Object.fromEntries(STEPS),
  restarting: "Restarting",
  reconfiguring: "Applying your new settings",
  disconnected: "Not checking in — we are looking into it",
  crash_loop: "Stopping unexpectedly — being restarted",
  unknown: "Its machine is not answering — retrying",
  moving: "Moving to another machine — messages wait for it",
  restoring: "Restoring a backup — messages wait for it",
  deleting: "Being removed",
  failed: "Could not be started",
  none: "Not created yet",
};

export function mountAssistant(card, { whatsappNumber, onChange, onStatus }) {
  let models = [];
  let current = null;
  let timer = null;
  let expecting = null; // after Checkout: {since, asked} until the assistant shows up

  const badge = (a) => {
    if (a.status === "READY" && a.phase === "ready") return el("span", { class: "badge badge-green", text: "● Ready" });
    if (a.status === "ERROR") return el("span", { class: "badge badge-red", text: "Error" });
    if (a.status === "NONE") return el("span", { class: "badge badge-muted", text: "No assistant" });
    return el("span", { class: "badge badge-amber" }, el("span", { class: "spinner", "aria-hidden": "true" }), a.status === "READY" ? "Updating" : "Setting up");
  };

  function progress(phase) {
    const index = STEPS.findIndex(([name]) => name === phase);
    return el(
      "ol",
      { class: "steps-progress", "aria-label": "Setup progress" },
      STEPS.map(([name, text], i) =>
        el("li", { class: i < index || phase === "ready" ? "done" : i === index ? "now" : "", "aria-current": i === index ? "step" : null, text }),
      ),
    );
  }

  function modelPicker(a) {
    const fieldset = el("fieldset", {}, el("legend", { text: "Model" }));
    const list = el("div", { class: "models" });
    for (const m of models) {
      const radio = el("input", { type: "radio", name: "model", value: m.id, checked: m.id === a.model });
      radio.addEventListener("change", () => changeModel(m));
      list.append(el("label", { class: "model" }, radio, el("div", {}, el("strong", { text: m.label }), el("span", { text: m.summary }))));
    }
    fieldset.append(list);
    return fieldset;
  }

  function render() {
    const a = current;
    card.removeAttribute("aria-busy");
    const box = el("div", { id: "assistant-notice" });
    const phaseText = a.status === "NONE" ? "" : PHASE_TEXT[a.phase] || a.phase;
    const parts = [el("div", { class: "status-line", id: "assistant-status", "data-status": a.status, "data-phase": a.phase }, badge(a), el("span", { class: "status-phase", id: "assistant-phase", text: phaseText }))];
    if (a.reason) parts.push(el("p", { class: "notice notice-error", role: "alert", text: a.reason }));
    if (a.status === "NONE") {
      if (expecting) {
        parts.push(el("div", { class: "waiting" }, el("span", { class: "spinner", "aria-hidden": "true" }), "Payment received — starting your assistant…"));
      } else {
        parts.push(el("p", { class: "muted", text: "Your own OpenClaw assistant, on WhatsApp, in under a minute. $20/month including $10 of AI credits." }));
        parts.push(el("button", { class: "btn btn-primary btn-lg", type: "button", id: "create-assistant", text: "Create my assistant", onclick: (e) => busy(e.currentTarget, () => create(box)) }));
      }
    } else {
      if (a.status === "PROVISIONING") parts.push(progress(a.phase));
      if (a.status === "READY" && a.phase === "ready") {
        const digits = (whatsappNumber || "").replace(/[^0-9]/g, "");
        parts.push(el("p", {}, "Say hi on WhatsApp: ", el("a", { href: `https://wa.me/${digits}`, target: "_blank", rel: "noopener", text: whatsappNumber }), ` · ${a.model_label || a.model} · `, el("a", { href: "#capabilities", text: "what to ask it" })));
      }
      if (a.status !== "NONE" && models.length) parts.push(modelPicker(a));
      parts.push(
        el(
          "div",
          { class: "row sub-block" },
          el("button", { class: "btn", type: "button", id: "recreate-assistant", text: a.status === "ERROR" ? "Try again" : "Recreate", onclick: (e) => recreate(e.currentTarget, box) }),
          el("button", { class: "btn btn-danger", type: "button", id: "delete-assistant", text: "Delete assistant", onclick: (e) => remove(e.currentTarget, box) }),
        ),
      );
    }
    parts.push(box);
    card.replaceChildren(...parts);
  }

  function settled(a) {
    return (a.status === "READY" && a.phase === "ready") || a.status === "ERROR" || (a.status === "NONE" && !expecting);
  }

  async function load() {
    const before = current;
    current = await authed("GET", "/assistants");
    if (expecting && current.status === "NONE") await nudge();
    else if (expecting) expecting = null;
    render();
    onStatus && onStatus(current);
    if (before && (before.status !== current.status || before.phase !== current.phase)) onChange && onChange(current);
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (!settled(current)) timer = setTimeout(() => load().catch(() => schedule()), POLL_MS);
  }

  // Back from Checkout the webhook makes the assistant wanted; if the subscription is active and nothing
  // happened after a few seconds, ask for it ourselves (idempotent).
  async function nudge() {
    const waited = Date.now() - expecting.since;
    if (waited > 90000) {
      expecting = null;
      toast("Your payment is taking longer than usual to confirm. Refresh in a minute.", "error");
      return;
    }
    if (expecting.asked || waited < 4000) return;
    const sub = await authed("GET", "/subscription").catch(() => null);
    if (sub && sub.status === "ACTIVE") {
      expecting.asked = true;
      current = await authed("POST", "/assistants", {});
    }
  }

  async function checkout() {
    const session = await authed("POST", "/checkout");
    location.assign(session.checkout_url);
  }

  async function create(box) {
    try {
      const sub = await authed("GET", "/subscription").catch((error) => {
        if (error instanceof ApiError && error.status === 404) return null; // billing not deployed here
        throw error;
      });
      if (sub && sub.status !== "ACTIVE") return await checkout();
      current = await authed("POST", "/assistants", {});
      toast("Your assistant is being set up.");
      render();
      schedule();
    } catch (error) {
      if (error instanceof ApiError && error.code === "SUBSCRIPTION_REQUIRED") {
        try {
          return await checkout();
        } catch (inner) {
          return showError(box, inner);
        }
      }
      showError(box, error);
    }
  }

  async function recreate(button, box) {
    const ok = await confirmDialog({
      title: "Recreate your assistant?",
      body: "It restarts on a fresh container. Its memory and files are kept. It will be unavailable for a minute.",
      confirm: "Recreate",
    });
    if (!ok) return;
    await busy(button, async () => {
      try {
        current = await authed("POST", "/assistants", { recreate: true });
        toast("Recreating your assistant.");
        render();
        schedule();
      } catch (error) {
        showError(box, error);
      }
    });
  }

  async function remove(button, box) {
    const ok = await confirmDialog({
      title: "Delete your assistant?",
      body: "It stops answering on WhatsApp right away. Your subscription is not canceled (use Manage billing for that).",
      confirm: "Delete",
      danger: true,
    });
    if (!ok) return;
    await busy(button, async () => {
      try {
        current = await authed("DELETE", "/assistants");
        toast("Your assistant was deleted.");
        render();
        onChange && onChange(current);
      } catch (error) {
        showError(box, error);
      }
    });
  }

  async function changeModel(model) {
    try {
      current = await authed("PATCH", "/assistants", { model: model.id });
      toast(`Switched to ${model.label}.`);
      render();
      schedule();
    } catch (error) {
      toastError(error);
      render();
    }
  }

  return {
    async start({ afterCheckout = false } = {}) {
      if (afterCheckout) expecting = { since: Date.now(), asked: false };
      models = (await authed("GET", "/assistants/models")).models;
      await load();
    },
    get current() {
      return current;
    },
  };
}
