// Turning a verified sign-in token into our session cookie, and where to go next.
import { api } from "./api.js";

const PENDING = "yourclaw.signin";

// A path on this site: "/" and then printable ASCII with no backslash, not starting "//". Browsers drop
// tabs and newlines from a URL and read a backslash as "/", so "/\t/evil.example" would be "//evil.example".
const SAFE_PATH = /^\/(?!\/)[\x21-\x5b\x5d-\x7e]*$/;

export function safeNext(value) {
  if (typeof value !== "string" || !SAFE_PATH.test(value)) return "";
  // And where the browser itself would go with it stays here.
  return new URL(value, location.href).origin === location.origin ? value : "";
}

export function rememberSignIn(next) {
  const nonce = crypto.getRandomValues(new Uint32Array(4)).join("-");
  sessionStorage.setItem(PENDING, JSON.stringify({ nonce, next, at: Date.now() }));
  return nonce;
}

// The sign-in this tab started (within 15 minutes), consumed once: a callback this tab did not start
// (someone else's token in a link) is refused.
export function takeSignIn() {
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  if (!raw) return null;
  try {
    const pending = JSON.parse(raw);
    return Date.now() - pending.at < 15 * 60 * 1000 ? pending : null;
  } catch {
    return null;
  }
}

export async function startSession(accessToken, next) {
  await api("POST", "/session", { access_token: accessToken });
  let target = safeNext(next);
  if (!target || target === "/login") {
    const me = await api("GET", "/users/me");
    target = me.phone && me.phone.verified ? "/dashboard" : "/onboarding";
  }
  location.replace(target);
}
