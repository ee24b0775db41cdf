// The onboarding checklist: what is left before the assistant is fully yours, shown until it is all done.
import { el } from "./ui.js";

export function mountChecklist(section) {
  const card = section.querySelector(".card");
  return {
    // facts: {verified, subscribed, ready, firstMessage, serviceConnected (null or undefined: not offered)}
    render(facts) {
      const steps = [
        ["verified", "Verify your WhatsApp number", facts.verified, "/onboarding"],
        ["subscribed", "Subscribe and create your assistant", facts.subscribed, "#assistant"],
        ["first-message", "Send your assistant a first message", facts.firstMessage, "#capabilities"],
      ];
      if (facts.serviceConnected != null) steps.push(["service", "Connect a service (Google)", facts.serviceConnected, "#services"]);
      const left = steps.filter((s) => !s[2]).length;
      section.hidden = left === 0;
      if (left === 0) return;
      card.replaceChildren(
        el("p", { class: "muted", id: "checklist-left", text: `${steps.length - left} of ${steps.length} done.` }),
        el(
          "ol",
          { class: "onboarding-steps" },
          steps.map(([key, text, done, href]) =>
            el(
              "li",
              { class: done ? "done" : "", "data-step": key },
              el("span", { class: "check", "aria-hidden": "true", text: done ? "✓" : "" }),
              done ? el("span", { text }) : el("a", { href, text }),
              el("span", { class: "visually-hidden", text: done ? " (done)" : " (to do)" }),
            ),
          ),
        ),
      );
    },
  };
}
