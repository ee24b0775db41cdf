// Recent activity: what the assistant wrote on its own (reminders, alerts), the reminders and watchers it set
// up, our notices about it (ready, credits) and changes to it (its model), newest first, so someone without the
// simulator sees their assistant is alive.
import { authed } from "./api.js";
import { dateOf, el, timeOf } from "./ui.js";

const KINDS = {
  proactive: "Your assistant wrote to you",
  ready: "Your assistant was ready",
  credits_low: "Credits running low",
  credits_used_up: "Credits used up",
  credits_none: "A message went unanswered: no credits",
  model_changed: "Model changed",
};
// A reminder or watcher the assistant set up, by its kind.
const AUTOMATIONS = { one_time: "Reminder set", recurring: "Repeating reminder set", watcher: "Watching" };
const WAITING = { PENDING: "waiting to be sent", HELD: "waiting for your next message", SENDING: "being sent", FAILED: "could not be sent" };

// When a reminder runs, in the browser's language and the user's time zone (the one their assistant uses).
function runTime(iso, timeZone) {
  const options = { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  try {
    return new Date(iso).toLocaleString(undefined, { ...options, timeZone: timeZone || undefined });
  } catch {
    return new Date(iso).toLocaleString(undefined, options); // a zone this browser does not know
  }
}

function headline(item) {
  if (item.kind === "automation_set") return AUTOMATIONS[item.automation_kind] || "Reminder set";
  return KINDS[item.kind] || "Activity";
}

// A reminder's name and when it runs ("call the dentist — Tue, Dec 8, 09:00"); a watcher checks on its own, so
// its next check is no news.
function detail(item, timeZone) {
  const due = item.kind === "automation_set" && item.automation_kind !== "watcher" && item.next_run_at;
  return due ? `${item.preview} — ${runTime(item.next_run_at, timeZone)}` : item.preview;
}

export function mountActivity(card) {
  return {
    /** `me` (GET /users/me) gives the time zone reminders run in; without it, the browser's. */
    async load(me) {
      const timeZone = me?.timezone;
      const { items } = await authed("GET", "/activity?limit=8");
      if (!items.length) {
        card.replaceChildren(el("p", { class: "muted", id: "activity-empty", text: "Nothing yet. Reminders your assistant sets up or sends, its alerts, and notices about your credits will show here." }));
        return;
      }
      card.replaceChildren(
        el(
          "ul",
          { class: "activity", id: "activity-list" },
          items.map((item) =>
            el(
              "li",
              { "data-kind": item.kind },
              el("div", { class: "activity-head" }, el("strong", { text: headline(item) }), el("time", { datetime: item.at, text: `${dateOf(item.at)}, ${timeOf(item.at)}` })),
              el("div", { class: "muted small", text: detail(item, timeZone) }),
              WAITING[item.status] ? el("div", { class: "small badge badge-muted", text: WAITING[item.status] }) : null,
            ),
          ),
        ),
      );
    },
  };
}
