// The Account section: profile (with the time zone, `timezone.js`), the subscription ("Subscribe" before
// there is one; "Manage billing" and the invoices after), and the Anthropic key (last 4 only). Each error
// shows next to the field or button that caused it.
import { ApiError, authed } from "./api.js";
import { breakableEmail, busy, confirmDialog, dateOf, el, fieldError, toast } from "./ui.js";
import { mountTimezone } from "./timezone.js";

const $ = (id) => document.getElementById(id);
const STATUS = {
  NONE: ["No subscription yet", "badge-muted"],
  ACTIVE: ["Active", "badge-green"],
  PAST_DUE: ["Payment failed — update your card", "badge-red"],
  INCOMPLETE: ["Payment not finished", "badge-amber"],
  PAUSED: ["Paused", "badge-amber"],
  CANCELED: ["Canceled", "badge-muted"],
};

export function mountAccount() {
  const keyInput = $("api-key");
  const keyError = (message) => fieldError($("key-hint"), message, { field: keyInput });
  const timezone = mountTimezone($("acct-tz-dd"));
  const removeButton = $("key-remove");

  function showKey(state) {
    const set = state && state.set;
    $("key-status").replaceChildren(
      set
        ? el("span", { id: "key-current" }, "Key in use: ", el("code", { text: `sk-…${state.last4}` }))
        : el("span", { class: "muted", id: "key-current", text: "No key: your assistant uses the included credits." }),
    );
    removeButton.hidden = !set;
    $("key-save").textContent = set ? "Replace key" : "Save key";
  }

  async function loadKey() {
    try {
      const data = await authed("GET", "/api-keys");
      const state = Array.isArray(data) ? data.find((k) => k.provider === "ANTHROPIC") : data;
      showKey(state);
    } catch (error) {
      $("key-status").replaceChildren(el("span", { class: "muted", text: error instanceof ApiError && error.status === 404 ? "Not available yet." : error.detail }));
    }
  }

  async function loadSubscription() {
    try {
      const sub = await authed("GET", "/subscription");
      const [label, tone] = STATUS[sub.status] || [sub.status, "badge-muted"];
      const parts = [el("span", { class: `badge ${tone}`, id: "sub-badge", text: label })];
      if (sub.current_period_end && sub.status !== "NONE") {
        const end = dateOf(sub.current_period_end);
        parts.push(el("span", { class: "muted", text: sub.cancel_at_period_end ? `ends on ${end}` : `renews on ${end}` }));
      }
      $("sub-status").replaceChildren(...parts);
      billingActions(sub.status);
    } catch (error) {
      $("sub-status").replaceChildren(el("span", { class: "muted", text: error instanceof ApiError && error.status === 404 ? "Not available yet." : error.detail }));
    }
  }

  // Only what can apply: no billing portal before there is anything to manage.
  function billingActions(status) {
    const actions = $("billing-actions");
    fieldError(actions, null);
    if (status === "NONE") {
      actions.replaceChildren(el("button", { class: "btn btn-primary", type: "button", id: "subscribe", text: "Subscribe — $20/month", onclick: (e) => busy(e.currentTarget, subscribe) }));
      return;
    }
    actions.replaceChildren(
      el("button", { class: "btn", type: "button", id: "manage-billing", text: "Manage billing", onclick: (e) => busy(e.currentTarget, portal) }),
      el("button", { class: "btn btn-ghost", type: "button", id: "invoices", text: "Invoices", onclick: (e) => busy(e.currentTarget, portal) }),
    );
  }

  async function portal() {
    try {
      const answer = await authed("POST", "/billing/portal");
      location.assign(answer.portal_url);
    } catch (error) {
      fieldError($("billing-actions"), error.detail || "Could not open the billing portal. Try again.");
    }
  }

  async function subscribe() {
    try {
      const session = await authed("POST", "/checkout");
      location.assign(session.checkout_url);
    } catch (error) {
      fieldError($("billing-actions"), error.detail || "Could not start the payment. Try again.");
    }
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      keyError("Paste your Anthropic API key first.");
      keyInput.focus();
      return;
    }
    busy($("key-save"), async () => {
      try {
        const saved = await authed("POST", "/api-keys", { provider: "ANTHROPIC", key });
        keyInput.value = "";
        keyError(null);
        showKey(saved);
        toast(`Key ending in ${saved.last4} saved. Your assistant uses it from now on.`);
      } catch (error) {
        keyError(error.detail || "Could not save the key. Try again.");
      }
    });
  });

  removeButton.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: "Remove your API key?",
      body: "Your assistant goes back to the included AI credits.",
      confirm: "Remove key",
      danger: true,
    });
    if (!ok) return;
    await busy(removeButton, async () => {
      try {
        await authed("DELETE", "/api-keys");
        showKey(null);
        fieldError(removeButton.parentElement, null);
        toast("Key removed. Your assistant uses the included credits again.");
      } catch (error) {
        fieldError(removeButton.parentElement, error.detail || "Could not remove the key. Try again.");
      }
    });
  });

  return {
    async load(me) {
      $("acct-email").replaceChildren(...(me.email ? breakableEmail(me.email) : ["—"]));
      $("acct-phone").textContent = me.phone ? `${me.phone.phone}${me.phone.verified ? " (verified)" : " (not verified yet)"}` : "not set";
      timezone.load(me);
      await Promise.all([loadSubscription(), loadKey()]);
    },
    loadSubscription,
  };
}
