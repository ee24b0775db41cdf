// The "Your data" section: download everything we hold (a zip, prepared in the background), and delete the
// account for good, behind a dialog where the user types DELETE.
import { api, ApiError, authed } from "./api.js";
import { busy, el, notice, showError } from "./ui.js";

const $ = (id) => document.getElementById(id);
const CONFIRM = "DELETE";
const GIVE_UP_MS = 5 * 60 * 1000;

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function errorOf(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401) {
    await authed("GET", "/users/me"); // sends the user to sign in
  }
  return new ApiError(response.status, (data && data.code) || "HTTP_" + response.status, (data && data.detail) || `Something went wrong (HTTP ${response.status}).`);
}

// GET answers 202 while the assistant's files are read off its volume, then the zip.
async function fetchExport(onWaiting) {
  const started = Date.now();
  for (;;) {
    let response;
    try {
      response = await fetch("/api/v1/users/me/export", { credentials: "same-origin" });
    } catch {
      throw new ApiError(0, "NETWORK_ERROR", "Could not reach YourClaw. Check your connection and try again.");
    }
    if (response.status === 200) return response.blob();
    if (response.status !== 202) throw await errorOf(response);
    if (Date.now() - started > GIVE_UP_MS) throw new ApiError(0, "EXPORT_SLOW", "Your export is taking longer than usual; try again in a few minutes.");
    onWaiting();
    await wait(1000 * Math.min(10, Number(response.headers.get("Retry-After")) || 2));
  }
}

function save(blob) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: `yourclaw-data-${new Date().toISOString().slice(0, 10)}.zip`, hidden: "" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function deleteDialog() {
  return new Promise((resolve) => {
    const input = el("input", { id: "delete-confirm-input", type: "text", autocomplete: "off", spellcheck: "false", "aria-describedby": "delete-confirm-hint" });
    const confirm = el("button", { type: "button", class: "btn btn-danger", value: "ok", id: "delete-confirm", text: "Delete my account", disabled: "" });
    const dialog = el(
      "dialog",
      { "aria-labelledby": "delete-title", id: "delete-dialog" },
      el("h2", { id: "delete-title", class: "h3", text: "Delete your account?" }),
      el("p", { class: "muted", text: "Your subscription is canceled now, your assistant and everything it remembers are erased, and your messages, usage and connected services are removed. This cannot be undone. Download your data first if you want to keep it." }),
      el("div", { class: "field" }, el("label", { for: "delete-confirm-input", text: `Type ${CONFIRM} to confirm` }), input, el("div", { class: "hint", id: "delete-confirm-hint", text: "In capitals." })),
      el("div", { class: "row" }, el("button", { type: "button", class: "btn btn-ghost", value: "cancel", text: "Keep my account" }), confirm),
    );
    input.addEventListener("input", () => {
      confirm.disabled = input.value.trim() !== CONFIRM;
    });
    dialog.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button && !button.disabled) dialog.close(button.value);
    });
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" && input.value.trim() === CONFIRM);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

export function mountUserData() {
  const box = $("data-notice");
  $("export-data").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      try {
        const blob = await fetchExport(() => notice(box, "info", "Preparing your data, including your assistant's memory files…"));
        save(blob);
        notice(box, "ok", "Your data is downloaded.");
      } catch (error) {
        showError(box, error);
      }
    }),
  );
  const deleteButton = $("delete-account");
  deleteButton.addEventListener("click", async () => {
    if (!(await deleteDialog())) return;
    await busy(deleteButton, async () => {
      try {
        await api("DELETE", `/users/me?confirm=${CONFIRM}`);
      } catch (error) {
        showError(box, error);
        return;
      }
      location.replace("/?account=deleted");
    });
  });
}
