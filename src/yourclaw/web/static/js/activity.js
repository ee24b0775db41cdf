// Recent activity: what the assistant wrote on its own (reminders, alerts), our notices about it (ready,
// credits) and changes to it (its model), newest first, so someone without the simulator sees their assistant is alive.
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
const WAITING = { PENDING: "waiting to be sent", HELD: "waiting for your next message", SENDING: "being sent", FAILED: "could not be sent" };

export function mountActivity(card) {
  return {
    async load() {
      const { items } = await authed("GET", "/activity?limit=8");
      if (!items.length) {
        card.replaceChildren(el("p", { class: "muted", id: "activity-empty", text: "Nothing yet. Reminders and alerts your assistant sends, and notices about your credits, will show here." }));
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
              el("div", { class: "activity-head" }, el("strong", { text: KINDS[item.kind] || "Activity" }), el("time", { datetime: item.at, text: `${dateOf(item.at)}, ${timeOf(item.at)}` })),
              el("div", { class: "muted small", text: item.preview }),
              WAITING[item.status] ? el("div", { class: "small badge badge-muted", text: WAITING[item.status] }) : null,
            ),
          ),
        ),
      );
    },
  };
}
