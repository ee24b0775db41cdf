// The time zone (reminders and quiet hours run on it): shown in the Account card, editable, with the
// browser's own time zone offered in one click when it differs.
import { authed } from "./api.js";
import { busy, el, fieldError, toast } from "./ui.js";

const browserZone = () => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
};

function zones(current) {
  let all = [];
  try {
    all = Intl.supportedValuesOf("timeZone");
  } catch {
    all = [];
  }
  for (const extra of [current, browserZone(), "UTC"]) if (extra && !all.includes(extra)) all.push(extra);
  return all.sort();
}

export function mountTimezone(dd, { onSaved = null } = {}) {
  let current = null;

  function show() {
    const guess = browserZone();
    const parts = [el("span", { id: "acct-tz", text: current || "not set" }), " · ", el("button", { type: "button", class: "link-button", id: "tz-change", text: "Change", onclick: edit })];
    if (guess && guess !== current) {
      parts.push(" · ", el("button", { type: "button", class: "link-button", id: "tz-use-browser", text: `Use ${guess} (this device)`, onclick: (e) => save(guess, e.currentTarget) }));
    }
    dd.replaceChildren(...parts);
  }

  function edit() {
    const select = el("select", { id: "tz-select", "aria-label": "Time zone" }, zones(current).map((z) => el("option", { value: z, selected: z === current, text: z })));
    const saveButton = el("button", { type: "submit", class: "btn btn-primary", id: "tz-save", text: "Save" });
    const form = el(
      "form",
      { class: "tz-form", id: "tz-form" },
      select,
      el("div", { class: "row" }, saveButton, el("button", { type: "button", class: "btn btn-ghost", text: "Cancel", onclick: show })),
      el("div", { class: "hint", text: "Reminders and quiet hours follow it." }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      save(select.value, saveButton, select);
    });
    dd.replaceChildren(form);
    select.focus();
  }

  async function save(zone, button, field = null) {
    await busy(button, async () => {
      try {
        const me = await authed("PATCH", "/users/me", { timezone: zone });
        current = me.timezone;
        show();
        toast(`Time zone set to ${current}.`);
        if (onSaved) onSaved(me);
      } catch (error) {
        fieldError(button.closest(".row") || button, error.detail || "Could not save the time zone. Try again.", { field });
      }
    });
  }

  return {
    load(me) {
      current = me.timezone;
      show();
    },
  };
}
