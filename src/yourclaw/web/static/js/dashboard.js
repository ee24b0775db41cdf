// The dashboard: sidebar (a menu on phones), and its sections, each a module talking to /api/v1.
import { authed, signOut } from "./api.js";
import { mountAccount } from "./account.js";
import { mountActivity } from "./activity.js";
import { mountAssistant } from "./assistant.js";
import { mountCapabilities } from "./capabilities.js";
import { mountChecklist } from "./checklist.js";
import { config } from "./config.js";
import { mountMemory } from "./memory.js";
import { followScroll } from "./scrollspy.js";
import { mountSimulator } from "./simulator.js";
import { breakableEmail, el, notice, showError, toastError } from "./ui.js";
import { mountServices } from "./services.js";
import { mountUsage } from "./usage.js";
import { mountUserData } from "./userdata.js";

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
    sidebar.classList.remove("open");
    toggle.setAttribute("aria-expanded", "false");
  });
}
followScroll(sidebar.querySelectorAll("nav a"));

$("sign-out").addEventListener("click", async () => {
  try {
    await signOut();
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
mountUserData();
mountMemory($("memory-card"))
  .load()
  .catch((error) => showError($("memory-card"), error));
const checklist = mountChecklist($("checklist"));
const activity = mountActivity($("activity-card"));
const services = mountServices($("services-list"), pageNotice);
let me = null;
let sim = null;
let wroteFirst = false;

async function refreshMe() {
  me = await authed("GET", "/users/me");
  $("who").replaceChildren(...breakableEmail(me.email || ""));
  return me;
}

async function refreshUsage() {
  try {
    await refreshMe().catch(() => me); // the workspace's size changes without the assistant's status changing
    const data = await usage.load(me);
    wroteFirst = wroteFirst || data.days.some((d) => d.inbound > 0);
    refreshChecklist();
  } catch (error) {
    showError($("usage-card"), error);
  }
  activity.load(me).catch((error) => showError($("activity-card"), error));
}

function refreshChecklist() {
  if (!me) return;
  const a = assistant.current;
  checklist.render({
    verified: Boolean(me.phone && me.phone.verified),
    subscribed: Boolean(me.subscription && me.subscription.status === "ACTIVE") && Boolean(a && a.status !== "NONE"),
    firstMessage: wroteFirst,
    serviceConnected: me.services_connected,
  });
}

// The post-checkout notice says what is happening until the assistant is ready, then what to do next.
function readyNotice(a) {
  refreshChecklist();
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
  // What a message costs and counts shows once the assistant has answered it.
  sim = mountSimulator($("sim"), { quick, onSent: () => setTimeout(refreshUsage, 1500), onReply: () => refreshUsage() });
}

function mountExamples() {
  const inSimulator = sim
    ? (text) => {
        $("simulator").scrollIntoView({ block: "start" });
        return sim.say(text);
      }
    : null;
  mountCapabilities($("capabilities-card"), { whatsappNumber: config.whatsapp_number, simulator: inSimulator });
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
  mountExamples();
  await Promise.all([
    assistant.start({ afterCheckout }).catch((error) => showError($("assistant-card"), error)),
    refreshUsage(),
    account.load(me),
    services.load(),
  ]);
  setInterval(() => !document.hidden && refreshUsage(), USAGE_REFRESH_MS);
})();
