// The sign-in page: Google through Supabase Auth when configured, else the local dev sign-in. Both end in
// the same HttpOnly session cookie (POST /api/v1/session).
import { api } from "./api.js";
import { config } from "./config.js";
import { rememberSignIn, safeNext, startSession } from "./session.js";
import { busy, notice, showError } from "./ui.js";

const box = document.getElementById("login-notice");
const next = safeNext(new URLSearchParams(location.search).get("next") || "");

if (config.sign_in === "supabase") {
  const block = document.getElementById("google-block");
  block.hidden = false;
  document.getElementById("google").addEventListener("click", () => {
    rememberSignIn(next);
    const redirect = config.app_url + "/auth/callback";
    const url = new URL(config.supabase_url + "/auth/v1/authorize");
    url.searchParams.set("provider", "google");
    url.searchParams.set("redirect_to", redirect);
    location.assign(url.toString());
  });
} else {
  const form = document.getElementById("dev-form");
  const email = document.getElementById("dev-email");
  form.hidden = false;
  email.focus();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    notice(box, null);
    if (!email.value.trim() || !email.checkValidity()) {
      email.setAttribute("aria-invalid", "true");
      notice(box, "error", "Enter an email address, like you@example.com.");
      email.focus();
      return;
    }
    email.removeAttribute("aria-invalid");
    busy(document.getElementById("dev-submit"), async () => {
      try {
        const login = await api("POST", "/dev/login", { email: email.value.trim() });
        await startSession(login.access_token, next);
      } catch (error) {
        showError(box, error);
      }
    });
  });
}
