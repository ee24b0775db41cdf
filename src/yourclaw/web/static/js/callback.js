// Back from Supabase's Google sign-in (implicit flow: the access token is in the URL fragment, which never
// reaches a server). The token goes once to POST /api/v1/session, which verifies it and sets our cookie.
import { startSession, takeSignIn } from "./session.js";
import { notice, showError } from "./ui.js";

const box = document.getElementById("callback-notice");
const fragment = new URLSearchParams(location.hash.slice(1));
const query = new URLSearchParams(location.search);
// The token must not linger in the address bar or the history.
history.replaceState(null, "", location.pathname);

function fail(message) {
  document.getElementById("callback-wait").hidden = true;
  document.getElementById("callback-retry").hidden = false;
  notice(box, "error", message);
}

const pending = takeSignIn();
const token = fragment.get("access_token");
const problem = fragment.get("error_description") || query.get("error_description");
if (problem) {
  fail("Google sign-in did not complete: " + problem);
} else if (!token) {
  fail("The sign-in answer had no access token. Try again.");
} else if (!pending) {
  fail("This sign-in was not started from this browser tab (or took too long). Start again.");
} else {
  startSession(token, pending.next).catch((error) => {
    document.getElementById("callback-wait").hidden = true;
    document.getElementById("callback-retry").hidden = false;
    showError(box, error);
  });
}
