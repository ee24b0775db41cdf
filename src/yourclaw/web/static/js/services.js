// Connected services: the user's Google Calendar, Gmail and Drive — connect (Google's consent page and back),
// disconnect, the account connected, its status, and one line on what the assistant can do with each.
import { authed } from "./api.js";
import { confirmDialog, el, notice, showError, toast, toastError } from "./ui.js";

const STATUS = {
  connected: ["badge-green", "Connected"],
  needs_reconnect: ["badge-amber", "Needs reconnect"],
  not_connected: ["badge-muted", "Not connected"],
};

export function mountServices(box, pageNotice) {
  // Back from Google: say how it went, then drop the parameters so a reload does not repeat it.
  const params = new URLSearchParams(location.search);
  if (params.has("connected")) notice(pageNotice, "ok", `Connected: your assistant can now use ${labelOf(params.get("connected"))}.`);
  if (params.has("oauth_error")) {
    const why = params.get("oauth_error") === "access_denied" ? "you did not allow access" : params.get("oauth_error");
    notice(pageNotice, "info", `${labelOf(params.get("service"))} was not connected: ${why}.`);
  }
  if (params.has("connected") || params.has("oauth_error")) history.replaceState(null, "", location.pathname + location.hash);

  async function connect(service, button) {
    button.disabled = true;
    try {
      const { auth_url } = await authed("GET", `/oauth/google/${service}/connect`);
      location.assign(auth_url);
    } catch (error) {
      button.disabled = false;
      toastError(error);
    }
  }

  async function disconnect(item, button) {
    const ok = await confirmDialog({
      title: `Disconnect ${item.label}?`,
      body: "Your assistant loses access at once. You can connect it again any time.",
      confirm: "Disconnect",
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await authed("DELETE", `/oauth/google/${item.service}`);
      toast(`${item.label} disconnected.`);
    } catch (error) {
      toastError(error);
    }
    await load();
  }

  function row(item, available) {
    const [badgeClass, badgeText] = STATUS[item.status] || STATUS.not_connected;
    const actions = el("div", { class: "row" });
    if (item.status !== "not_connected") {
      const off = el("button", { class: "btn btn-danger", type: "button", "data-disconnect": item.service, text: "Disconnect" });
      off.addEventListener("click", () => disconnect(item, off));
      actions.append(off);
    }
    if (item.status !== "connected" && available) {
      const on = el("button", {
        class: "btn btn-primary",
        type: "button",
        "data-connect": item.service,
        text: item.status === "needs_reconnect" ? "Reconnect" : "Connect",
      });
      on.addEventListener("click", () => connect(item.service, on));
      actions.append(on);
    }
    return el(
      "div",
      { class: "service", "data-service": item.service },
      el(
        "div",
        {},
        el("strong", { text: item.label }),
        el("span", { class: "muted small", text: item.can_do }),
        item.email ? el("span", { class: "small", "data-email": "", text: item.email }) : null,
      ),
      el("div", { class: "row" }, el("span", { class: `badge ${badgeClass}`, "data-status": item.status, text: badgeText }), actions),
    );
  }

  async function load() {
    try {
      const data = await authed("GET", "/oauth/integrations");
      const rows = data.integrations.map((item) => row(item, data.available));
      if (!data.available) rows.unshift(el("p", { class: "notice notice-info", text: "Connecting Google services is not set up on this server yet." }));
      box.replaceChildren(...rows);
    } catch (error) {
      showError(box, error);
    }
  }

  return { load };
}

function labelOf(service) {
  return { calendar: "Google Calendar", gmail: "Gmail", drive: "Google Drive" }[service] || "that service";
}
