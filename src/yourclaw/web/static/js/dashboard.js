// The dashboard: sidebar (a menu on phones), and its sections, each a module talking to /api/v1.
import { api, authed } from "./api.js";
import { mountAccount } from "./account.js";
import { mountAssistant } from "./assistant.js";
import { config } from "./config.js";
import { mountSimulator } from "./simulator.js";
import { el, notice, showError, toastError } from "./ui.js";
import { mountServices } from "./services.js";
import { mountUsage } from "./usage.js";

const $ = (id) => document.getElementById(id);
const pageNotice = $("page-notice");
const USAGE_REFRESH_MS = 15000;

// Phone-sized menu
const sidebar = $("sidebar");
const toggle = $("menu-toggle");
toggle.addEventListener("click", () => {
  const open = sidebar.classList.toggle("open");
  toggle.setAttribute("aria-expanded", String(open));
});
for (const link of sidebar.querySelectorAll("nav a")) {
  link.addEventListener("click", () => {
    for (const other of sidebar.querySelectorAll("nav a")) other.removeAttribute("aria-current");
    link.setAttribute("aria-current", "true");
    sidebar.classList.remove("open");
    toggle.setAttribute("aria-expanded", "false");
  });
}

$("sign-out").addEventListener("click", async () => {
  try {
    await api("DELETE", "/session");
  } catch (error) {
    toastError(error);
    return;
  }
  location.replace("/login");
});

// Back from Checkout: say how it went, then drop the parameters so a reload does not repeat it.
const params = new URLSearchParams(location.search);
const afterCheckout = params.has("session_id");
if (afterCheckout) notice(pageNotice, "ok", "Payment received — thank you! Your assistant is being set up; this takes under a minute.");
if (params.get("checkout") === "canceled") notice(pageNotice, "info", "Checkout was canceled; nothing was charged. Create your assistant when you are ready.");
if (params.has("session_id") || params.has("checkout")) history.replaceState(null, "", location.pathname + location.hash);

const usage = mountUsage($("usage-card"));
const account = mountAccount();
const services = mountServices($("services-list"), pageNotice);
let me = null;

async function refreshMe() {
  me = await authed("GET", "/users/me");
  $("who").textContent = me.email || "";
  return me;
}

async function refreshUsage() {
  try {
    await usage.load(me);
  } catch (error) {
    showError($("usage-card"), error);
  }
}

// The post-checkout notice says what is happening until the assistant is ready, then what to do next.
function readyNotice(a) {
  if (!afterCheckout || a.status !== "READY" || a.phase !== "ready") return;
  const digits = (config.whatsapp_number || "").replace(/[^0-9]/g, "");
  notice(pageNotice, "ok", "Payment received — your assistant is ready. Say hi on WhatsApp: ");
  pageNotice.firstChild.append(el("a", { href: `https://wa.me/${digits}`, target: "_blank", rel: "noopener", text: config.whatsapp_number }));
}

const assistant = mountAssistant($("assistant-card"), {
  whatsappNumber: config.whatsapp_number,
  onStatus: readyNotice,
  onChange: async () => {
    await refreshMe().catch(() => null);
    account.loadSubscription();
    refreshUsage();
  },
});

function mountSim() {
  $("simulator").hidden = false;
  $("nav-simulator").hidden = false;
  if (!me.phone) {
    $("sim").replaceChildren(el("p", { class: "notice notice-info" }, "Add your WhatsApp number first: ", el("a", { href: "/onboarding", text: "link your number" }), "."));
    return;
  }
  const quick = [{ label: "Say hi", text: "hi" }];
  if (me.phone.verification) quick.unshift({ label: `Send “${me.phone.verification.message}”`, text: me.phone.verification.message });
  mountSimulator($("sim"), { quick, onSent: () => setTimeout(refreshUsage, 1500) });
}

(async () => {
  try {
    await refreshMe();
  } catch (error) {
    showError(pageNotice, error);
    return;
  }
  if (!me.phone || !me.phone.verified) {
    notice(pageNotice, "info", "Link your WhatsApp number so your assistant can reach you.");
    pageNotice.firstChild.append(" ", el("a", { href: "/onboarding", class: "btn", text: "Link WhatsApp" }));
  }
  if (config.simulator) mountSim();
  await Promise.all([
    assistant.start({ afterCheckout }).catch((error) => showError($("assistant-card"), error)),
    refreshUsage(),
    account.load(me),
    services.load(),
  ]);
  setInterval(() => !document.hidden && refreshUsage(), USAGE_REFRESH_MS);
})();
