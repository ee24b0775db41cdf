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

// A notice inside `box` (role=alert for errors so screen readers announce it); null clears it. Errors are
// said in words: the machine code stays in the API's answer, never on the page.
export function notice(box, kind, message) {
  box.replaceChildren();
  if (!message) return;
  box.append(el("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, message));
}

export function showError(box, error) {
  notice(box, "error", errorText(error));
}

// An error next to the field or button that caused it: the message sits right under it, the field is
// marked invalid and described by it, and it is scrolled into view (a message 260 px above helps no one).
export function fieldError(anchor, message, { field = null } = {}) {
  const id = (anchor.id || "field") + "-error";
  let box = document.getElementById(id);
  if (!message) {
    if (box) box.remove();
    if (field) {
      field.removeAttribute("aria-invalid");
      field.setAttribute("aria-describedby", (field.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== id).join(" "));
    }
    return;
  }
  if (!box) {
    box = el("div", { id, class: "field-error", role: "alert" });
    anchor.after(box);
  }
  box.textContent = message;
  if (field) {
    field.setAttribute("aria-invalid", "true");
    const described = new Set((field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
    described.add(id);
    field.setAttribute("aria-describedby", [...described].join(" "));
  }
  box.scrollIntoView({ block: "nearest" });
}

let toastBox = null;
export function toast(message, kind = "ok") {
  if (!toastBox) {
    toastBox = el("div", { class: "toasts", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const node = el("div", { class: `notice notice-${kind} toast`, role: kind === "error" ? "alert" : "status" }, message);
  toastBox.append(node);
  setTimeout(() => node.remove(), kind === "error" ? 9000 : 5000);
}

export function toastError(error) {
  toast(errorText(error), "error");
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

// Dates in the reader's own locale, with the month in words: "Jan 3, 2027", never an ambiguous 1/3/2027.
export function dateOf(iso) {
  return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

// "1 message", "3 messages": the plural the number needs.
export function plural(count, one, many = one + "s") {
  return `${count} ${count === 1 ? one : many}`;
}

export function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// An email that may break at its "@" and dots on a narrow screen, never in the middle of a word.
export function breakableEmail(email) {
  const parts = String(email || "").split(/(?=[@.])/);
  return parts.flatMap((part, i) => (i ? [document.createElement("wbr"), part] : [part]));
}
