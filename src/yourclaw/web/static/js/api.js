// Every call to /api/v1: same-origin cookies, the CSRF token on writes, errors as ApiError {status, code, detail}.
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function cookie(name) {
  const hit = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

export function toLogin() {
  const next = location.pathname + location.search;
  location.assign("/login?next=" + encodeURIComponent(next));
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("yourclaw_csrf");
  let response;
  try {
    response = await fetch("/api/v1" + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "Could not reach YourClaw. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.code) || "HTTP_" + response.status;
    const detail = (data && data.detail) || (response.status >= 500 ? "Something went wrong on our side. Try again in a minute." : "That did not work. Reload the page and try again.");
    throw new ApiError(response.status, code, detail);
  }
  return data;
}

// The signed-in pages' calls in flight, so that signing out can let them finish first: one still going when
// the session ends would come back 401 for nothing.
const inFlight = new Set();
let closing = false;

// For the signed-in pages: a 401 means the session ended, so go and sign in again.
export async function authed(method, path, body) {
  if (closing) return new Promise(() => {}); // the page is on its way out: pollers wait for nothing
  const call = api(method, path, body);
  inFlight.add(call);
  try {
    return await call;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) toLogin();
    throw error;
  } finally {
    inFlight.delete(call);
  }
}

// Ends the session: no new call starts, the ones in flight finish, then the session is deleted. Undone (calls
// start again) when the deletion fails, so the page keeps working.
export async function signOut() {
  closing = true;
  await Promise.allSettled([...inFlight]);
  try {
    await api("DELETE", "/session");
  } catch (error) {
    closing = false;
    throw error;
  }
}
