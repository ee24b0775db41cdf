// Small DOM helpers: elements, notices and toasts (every action reports how it went), confirmation, busy buttons.
import { ApiError } from "./api.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function errorText(error) {
  if (error instanceof ApiError) return error.detail;
  return "Something went wrong. Try again.";
}

// A notice inside `box` (role=alert for errors so screen readers announce it); null clears it.
export function notice(box, kind, message, code) {
  box.replaceChildren();
  if (!message) return;
  const node = el("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  if (code) node.append(" ", el("code", { text: `(${code})` }));
  box.append(node);
}

export function showError(box, error) {
  notice(box, "error", errorText(error), error instanceof ApiError ? error.code : null);
}

let toastBox = null;
export function toast(message, kind = "ok", code = null) {
  if (!toastBox) {
    toastBox = el("div", { class: "toasts", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const node = el("div", { class: `notice notice-${kind} toast`, role: kind === "error" ? "alert" : "status" }, message);
  if (code) node.append(" ", el("code", { text: `(${code})` }));
  toastBox.append(node);
  setTimeout(() => node.remove(), kind === "error" ? 9000 : 5000);
}

export function toastError(error) {
  toast(errorText(error), "error", error instanceof ApiError ? error.code : null);
}

// Resolves true when the person confirms; the dialog is modal and keyboard-operable (Esc cancels).
export function confirmDialog({ title, body, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const dialog = el(
      "dialog",
      { "aria-labelledby": "confirm-title" },
      el("h2", { id: "confirm-title", class: "h3", text: title }),
      el("p", { class: "muted", text: body }),
      el(
        "div",
        { class: "row" },
        el("button", { type: "button", class: "btn btn-ghost", value: "cancel", text: "Cancel" }),
        el("button", { type: "button", class: danger ? "btn btn-danger" : "btn btn-primary", value: "ok", text: confirm }),
      ),
    );
    dialog.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button) dialog.close(button.value);
    });
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('button[value="cancel"]').focus();
  });
}

export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function dollars(cents) {
  return "$" + (Math.max(0, cents) / 100).toFixed(2);
}

export function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
