// The "Memory" section: what the assistant remembers about the user (its memory files, read off its volume in the
// background), each with its text, and a way to make it forget one file or everything (after a confirmation).
// A read or a forget is a request the control plane does a moment later, so the section polls while one waits.
import { authed } from "./api.js";
import { confirmDialog, dateOf, el, errorText, fieldError, notice, plural, timeOf } from "./ui.js";

const POLL_MS = 1500;
const GIVE_UP_MS = 2 * 60 * 1000;

const NAMES = {
  "MEMORY.md": "Long-term memory",
  "USER.md": "What it knows about you",
  "DREAMS.md": "Dream diary (what it sorted out of your conversations)",
};

// "memory/2026-12-07.md" → "Notes from 7 Dec 2026"; a name it cannot read as a date stays as it is.
function titleOf(path) {
  if (NAMES[path]) return NAMES[path];
  const day = /^memory\/(\d{4}-\d{2}-\d{2})(?:-(.+))?\.md$/.exec(path);
  if (!day) return path.replace(/^memory\//, "Notes: ").replace(/\.md$/, "");
  const when = dateOf(day[1] + "T12:00:00");
  return day[2] ? `Notes from ${when} (${day[2].replace(/-/g, " ")})` : `Notes from ${when}`;
}

function ageOf(seconds) {
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${plural(Math.floor(seconds / 60), "minute")} ago`;
  if (seconds < 86400) return `${plural(Math.floor(seconds / 3600), "hour")} ago`;
  return `${plural(Math.floor(seconds / 86400), "day")} ago`;
}

function kb(bytes) {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KB`;
}

function waitingText(pending) {
  const forget = pending.find((p) => p.action === "FORGET");
  if (!forget) return "Reading your assistant's memory…";
  return forget.path ? "Forgetting…" : "Forgetting everything…";
}

export function mountMemory(card) {
  const status = el("div", { id: "memory-status", "aria-live": "polite" });
  const list = el("div", { id: "memory-files" });
  const refresh = el("button", { type: "button", class: "btn", id: "memory-refresh", text: "Refresh" });
  const forgetAll = el("button", { type: "button", class: "btn btn-danger", id: "memory-forget-all", text: "Forget everything…", hidden: "" });
  const actions = el("div", { class: "row", id: "memory-actions" }, refresh, forgetAll);
  card.replaceChildren(
    el("p", { class: "muted small", text: "Your assistant keeps what it learns about you in a few notes of its own. This is what they say now. Forgetting deletes the note from your assistant for good: it will not remember it in later conversations." }),
    status,
    list,
    actions,
  );
  let polling = null;
  let startedAt = 0;

  function render(view) {
    if (view.error) notice(status, "error", view.error);
    else if (view.pending.length) status.replaceChildren(el("div", { class: "waiting" }, el("span", { class: "spinner", "aria-hidden": "true" }), waitingText(view.pending)));
    else if (view.taken_at) notice(status, "info", `As of ${ageOf(view.age_seconds)} (${dateOf(view.taken_at)}, ${timeOf(view.taken_at)}).`);
    else status.replaceChildren();

    const busy = view.pending.length > 0;
    refresh.disabled = busy;
    forgetAll.hidden = !view.files.length;
    forgetAll.disabled = busy;
    if (!view.taken_at) {
      list.replaceChildren();
      return;
    }
    if (!view.files.length) {
      list.replaceChildren(el("p", { class: "muted", id: "memory-empty", text: "Your assistant has not written anything down about you yet." }));
      return;
    }
    const items = view.files.map((file, index) => {
      const forget = el("button", { type: "button", class: "btn btn-ghost", text: "Forget this…", "data-path": file.path, disabled: busy || undefined });
      const row = el("div", { class: "row", id: `memory-file-${index}` }, forget);
      forget.addEventListener("click", () => ask(forget, row, `Forget “${titleOf(file.path)}”?`, `/users/me/memory?path=${encodeURIComponent(file.path)}`));
      return el(
        "details",
        { class: "memory-file", "data-path": file.path },
        el("summary", {}, el("strong", { text: titleOf(file.path) }), el("span", { class: "muted small", text: ` · ${kb(file.bytes)}` })),
        el("pre", { class: "memory-text", text: file.text + (file.truncated ? "\n…" : "") }),
        file.truncated ? el("p", { class: "muted small", text: "Only the beginning is shown here; your data download has all of it." }) : null,
        row,
      );
    });
    if (view.files_total > view.files.length) items.push(el("p", { class: "muted small", text: `Showing ${view.files.length} of ${view.files_total} notes.` }));
    list.replaceChildren(...items);
  }

  async function load() {
    const view = await authed("GET", "/users/me/memory");
    render(view);
    schedule(view);
    return view;
  }

  function schedule(view) {
    clearTimeout(polling);
    polling = null;
    if (!view.pending.length) return;
    if (!startedAt) startedAt = Date.now();
    if (Date.now() - startedAt > GIVE_UP_MS) {
      notice(status, "info", "Your assistant's memory is taking longer than usual to read; come back in a few minutes.");
      startedAt = 0;
      return;
    }
    polling = setTimeout(() => load().catch((error) => notice(status, "error", errorText(error))), POLL_MS);
  }

  // An error goes right under the buttons that caused it (`anchor`, their row), in words.
  async function send(button, anchor, method, path) {
    for (const box of card.querySelectorAll(".field-error")) box.remove();
    button.disabled = true;
    try {
      const view = await authed(method, path);
      startedAt = Date.now();
      render(view);
      schedule(view);
    } catch (error) {
      button.disabled = false;
      fieldError(anchor, errorText(error));
    }
  }

  async function ask(button, anchor, title, path) {
    const sure = await confirmDialog({ title, body: "Your assistant deletes this note and will not remember what it says. This cannot be undone.", confirm: "Forget it", danger: true });
    if (sure) await send(button, anchor, "DELETE", path);
  }

  refresh.addEventListener("click", () => send(refresh, actions, "POST", "/users/me/memory/refresh"));
  forgetAll.addEventListener("click", async () => {
    const sure = await confirmDialog({
      title: "Forget everything?",
      body: "Your assistant deletes every note it keeps about you: your preferences, the facts it learned and its daily notes. Your messages and your account stay. This cannot be undone.",
      confirm: "Forget everything",
      danger: true,
    });
    if (sure) await send(forgetAll, actions, "DELETE", "/users/me/memory?all=true");
  });

  return { load };
}
