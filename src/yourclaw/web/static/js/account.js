// The Account section: profile, subscription with "Manage billing", and the Anthropic key (last 4 only).
import { ApiError, authed } from "./api.js";
import { busy, confirmDialog, el, showError, toast } from "./ui.js";

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
  const box = $("account-notice");
  const keyInput = $("api-key");
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
        const end = new Date(sub.current_period_end).toLocaleDateString();
        parts.push(el("span", { class: "muted", text: sub.cancel_at_period_end ? `ends on ${end}` : `renews on ${end}` }));
      }
      $("sub-status").replaceChildren(...parts);
    } catch (error) {
      $("sub-status").replaceChildren(el("span", { class: "muted", text: error instanceof ApiError && error.status === 404 ? "Not available yet." : error.detail }));
    }
  }

  $("manage-billing").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      try {
        const portal = await authed("POST", "/billing/portal");
        location.assign(portal.portal_url);
      } catch (error) {
        showError(box, error);
      }
    }),
  );

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      keyInput.setAttribute("aria-invalid", "true");
      showError(box, new ApiError(0, "EMPTY_KEY", "Paste your Anthropic API key first."));
      keyInput.focus();
      return;
    }
    busy($("key-save"), async () => {
      try {
        const saved = await authed("POST", "/api-keys", { provider: "ANTHROPIC", key });
        keyInput.value = "";
        keyInput.removeAttribute("aria-invalid");
        showKey(saved);
        box.replaceChildren();
        toast(`Key ending in ${saved.last4} saved. Your assistant uses it from now on.`);
      } catch (error) {
        keyInput.setAttribute("aria-invalid", "true");
        showError(box, error);
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
        box.replaceChildren();
        toast("Key removed. Your assistant uses the included credits again.");
      } catch (error) {
        showError(box, error);
      }
    });
  });

  return {
    async load(me) {
      $("acct-email").textContent = me.email || "—";
      $("acct-phone").textContent = me.phone ? `${me.phone.phone}${me.phone.verified ? " (verified)" : " (not verified yet)"}` : "not set";
      $("acct-tz").textContent = me.timezone || "not set";
      await Promise.all([loadSubscription(), loadKey()]);
    },
    loadSubscription,
  };
}
