// Onboarding: the WhatsApp number (checked as you type, then by the server), then "link <code>" sent from
// WhatsApp (link, QR code, or the local simulator); the page polls until the number is verified.
import { authed } from "./api.js";
import { config } from "./config.js";
import { byIso, check, countries, guessCountry, timezone } from "./phone.js";
import { mountSimulator } from "./simulator.js";
import { busy, el, notice, showError } from "./ui.js";

const $ = (id) => document.getElementById(id);
const steps = { number: $("step-number"), verify: $("step-verify"), done: $("step-done") };
const select = $("country");
const input = $("phone");
const feedback = $("phone-feedback");
const POLL_MS = 2000;
let poller = null;
let simulator = null;

function show(step) {
  for (const [name, node] of Object.entries(steps)) node.hidden = name !== step;
  const heading = steps[step].querySelector("h1");
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

for (const c of countries) select.append(el("option", { value: c.iso, text: `${c.name} (+${c.dial})` }));
select.value = guessCountry();

function validate(final) {
  const result = check(byIso(select.value), input.value);
  feedback.className = result.ok ? "field-ok" : result.message && final ? "field-error" : "hint";
  feedback.textContent = result.message;
  if (final || result.ok) input.setAttribute("aria-invalid", String(!result.ok));
  return result;
}
input.addEventListener("input", () => validate(false));
input.addEventListener("blur", () => input.value && validate(true));
select.addEventListener("change", () => input.value && validate(false));

$("phone-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const box = $("phone-notice");
  notice(box, null);
  const result = validate(true);
  if (!result.ok) {
    if (!result.message) {
      feedback.className = "field-error";
      feedback.textContent = "Enter your WhatsApp number.";
    }
    input.focus();
    return;
  }
  busy($("phone-submit"), async () => {
    try {
      const phone = await authed("POST", "/users/me/phone", { phone: result.e164, timezone: timezone() });
      render(phone);
    } catch (error) {
      input.setAttribute("aria-invalid", "true");
      showError(box, error);
    }
  });
});

function startPolling() {
  stopPolling();
  poller = setInterval(async () => {
    if (document.hidden) return;
    try {
      const me = await authed("GET", "/users/me");
      if (me.phone && me.phone.verified) render(me.phone);
      else if (me.phone && !me.phone.verification) {
        notice($("verify-notice"), "error", "Your code expired. Enter your number again for a new one.");
        stopPolling();
      }
    } catch {
      // Try again on the next tick.
    }
  }, POLL_MS);
}

function stopPolling() {
  if (poller) clearInterval(poller);
  poller = null;
}

function render(phone) {
  if (phone.verified) {
    stopPolling();
    if (simulator) simulator.stop();
    $("done-phone").textContent = phone.phone;
    show("done");
    return;
  }
  const pending = phone.verification;
  if (!pending) {
    show("number");
    return;
  }
  $("verify-phone").textContent = phone.phone;
  $("verify-message").textContent = pending.message;
  $("copy-message").onclick = async () => {
    try {
      await navigator.clipboard.writeText(pending.message);
      $("copy-message").textContent = "Copied";
    } catch {
      $("copy-message").textContent = "Select it to copy";
    }
  };
  $("verify-link").href = pending.link;
  $("verify-qr").src = "/api/v1/users/me/phone/qr?code=" + encodeURIComponent(pending.code);
  $("verify-expiry").textContent = new Date(pending.expires_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  notice($("verify-notice"), null);
  if (config.simulator) {
    $("sim-block").hidden = false;
    const quick = [{ label: `Send “${pending.message}”`, text: pending.message }];
    if (simulator) simulator.setQuick(quick);
    else simulator = mountSimulator($("sim"), { quick });
  }
  show("verify");
  startPolling();
}

function changeNumber() {
  stopPolling();
  show("number");
  input.focus();
}
$("change-number").addEventListener("click", changeNumber);
$("change-verified").addEventListener("click", changeNumber);

(async () => {
  try {
    const me = await authed("GET", "/users/me");
    const wantsChange = new URLSearchParams(location.search).get("change") === "1";
    if (me.phone && !(wantsChange && me.phone.verified)) render(me.phone);
    else show("number");
  } catch (error) {
    show("number");
    showError($("phone-notice"), error);
  }
})();
