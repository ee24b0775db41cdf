// The Usage section: today's messages against the daily limits, credits used and left as a bar, the last
// 7 days of messages as a small bar chart, and what the assistant's thinking cost per day and purpose, with
// the models it ran on — all drawn here in SVG.
import { authed } from "./api.js";
import { dollars, el, plural } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// Charts are drawn at the width they are shown at, so their labels stay at the CSS font size (a 560-wide
// drawing squeezed onto a phone shrank them to 5 px).
function chartWidth(card) {
  return Math.max(260, Math.min(760, (card.clientWidth || 560) - 40));
}

function chart(days, width) {
  const height = 170;
  const pad = 22;
  const slot = (width - pad) / days.length;
  const peak = Math.max(1, ...days.map((d) => Math.max(d.inbound, d.assistant_messages)));
  const scale = (n) => ((height - pad - 10) * n) / peak;
  const title = days.map((d) => `${d.day}: ${d.inbound} from you, ${d.assistant_messages} from your assistant`).join("; ");
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Messages over the last 7 days. " + title });
  days.forEach((d, i) => {
    const x = pad + i * slot + slot * 0.18;
    const w = slot * 0.3;
    const base = height - pad;
    const inH = scale(d.inbound);
    const outH = scale(d.assistant_messages);
    root.append(
      svg("rect", { class: "bar", x, y: base - inH, width: w, height: Math.max(inH, 0.5), rx: 3 }, svg("title", {}, plural(d.inbound, "message") + " from you")),
      svg("rect", { class: "bar-out", x: x + w + 2, y: base - outH, width: w, height: Math.max(outH, 0.5), rx: 3 }, svg("title", {}, plural(d.assistant_messages, "message") + " from your assistant")),
    );
    const label = new Date(d.day + "T12:00:00").toLocaleDateString([], { weekday: "short" });
    root.append(svg("text", { x: x + w, y: height - 5, "text-anchor": "middle" }, label));
  });
  root.append(svg("text", { x: 2, y: 12 }, String(peak)));
  return root;
}

// What made the assistant think, in the order the chart stacks them.
const PURPOSES = [
  ["reply", "Answering you"],
  ["cron", "Scheduled jobs"],
  ["heartbeat", "Check-ins"],
  ["memory", "Memory"],
  ["other", "Other"],
  ["unsettled", "Interrupted calls"],
];

// Spend is in millicents (1/1000 of a cent): a check-in costs a fraction of a cent.
function money(millicents) {
  if (millicents > 0 && millicents < 1000) return "<$0.01";
  return "$" + (millicents / 100000).toFixed(2);
}

function spendChart(days, spend, width) {
  const height = 150;
  const pad = 22;
  const slot = (width - pad) / days.length;
  const byDay = new Map(days.map((d) => [d.day, new Map()]));
  for (const row of spend) {
    const day = byDay.get(row.day);
    if (day) day.set(row.purpose, (day.get(row.purpose) || 0) + row.millicents);
  }
  const totals = days.map((d) => [...byDay.get(d.day).values()].reduce((a, b) => a + b, 0));
  const peak = Math.max(1, ...totals);
  const scale = (n) => ((height - pad - 10) * n) / peak;
  const title = days.map((d, i) => `${d.day}: ${money(totals[i])}`).join("; ");
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "What your assistant's thinking cost, per day. " + title });
  days.forEach((d, i) => {
    const x = pad + i * slot + slot * 0.25;
    const w = slot * 0.5;
    let top = height - pad;
    for (const [purpose, label] of PURPOSES) {
      const value = byDay.get(d.day).get(purpose) || 0;
      if (!value) continue;
      const h = Math.max(scale(value), 1);
      top -= h;
      root.append(svg("rect", { class: `spend spend-${purpose}`, x, y: top, width: w, height: h, rx: 2 }, svg("title", {}, `${label}: ${money(value)}`)));
    }
    const label = new Date(d.day + "T12:00:00").toLocaleDateString([], { weekday: "short" });
    root.append(svg("text", { x: x + w / 2, y: height - 5, "text-anchor": "middle" }, label));
  });
  root.append(svg("text", { x: 2, y: 12 }, money(peak)));
  return root;
}

function spendBlock(days, spend, ownKey, width) {
  const total = spend.reduce((sum, row) => sum + row.millicents, 0);
  const models = new Map();
  for (const row of spend) models.set(row.model_label, (models.get(row.model_label) || 0) + row.millicents);
  const used = new Set(spend.map((row) => row.purpose));
  const legend = PURPOSES.filter(([purpose]) => used.has(purpose)).map(([purpose, label]) => el("span", {}, el("i", { class: `spend-${purpose}` }), label));
  const parts = [el("h3", { text: "What your assistant's thinking cost" })];
  if (!spend.length) {
    parts.push(el("p", { class: "muted small", id: "spend-summary", text: "Nothing yet this week." }));
    return el("div", { class: "sub-block chart", id: "spend" }, ...parts);
  }
  const byModel = [...models.entries()].sort((a, b) => b[1] - a[1]).map(([label, value]) => `${label} ${money(value)}`).join(" · ");
  const whose = ownKey ? " (on your own key where marked so: Anthropic bills those)" : "";
  parts.push(
    el("p", { class: "muted small", id: "spend-summary", text: `${money(total)} in the last 7 days${whose}: ${byModel}` }),
    el("div", { class: "legend" }, ...legend),
    spendChart(days, spend, width),
  );
  return el("div", { class: "sub-block chart", id: "spend" }, ...parts);
}

// Today's WhatsApp messages to the user against the daily cap; once reached, when the held ones go.
function outboundLine(outbound) {
  if (outbound.capped_until) {
    const at = new Date(outbound.capped_until).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return el("p", {
      class: "notice notice-info",
      id: "outbound-limit",
      text: `Your assistant reached today's limit of ${outbound.parts_cap} WhatsApp messages. What it writes next is kept, not lost, and goes out after ${at}.`,
    });
  }
  return el("p", {
    class: "muted small",
    id: "outbound-limit",
    text: `WhatsApp messages sent to you today: ${outbound.parts_today} of ${outbound.parts_cap} (a long message counts as several).`,
  });
}

// "1.9 GB", "120 MB": powers of 1024, as the WhatsApp notice writes them.
function size(bytes) {
  for (const [unit, scale] of [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024]]) {
    if (bytes >= scale) {
      const value = bytes / scale;
      return `${value < 10 ? String(Math.round(value * 10) / 10) : Math.round(value)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}

// The assistant's own disk (its volume): how much is used, and what happens when it fills up.
function workspaceLine(workspace) {
  if (!workspace) return null;
  const text = `Workspace: ${size(workspace.used_bytes)} of ${size(workspace.size_bytes)}`;
  if (workspace.state === "full") {
    return el("p", { class: "notice notice-error", id: "workspace", role: "alert", text: `${text} — full. Your assistant cannot save new files, notes or memories: ask it to delete files it no longer needs.` });
  }
  if (workspace.state === "nearly_full") {
    return el("p", { class: "notice notice-info", id: "workspace", text: `${text} — nearly full. When it is full your assistant cannot save new files, notes or memories: ask it to delete files it no longer needs.` });
  }
  return el("p", { class: "muted small", id: "workspace", text });
}

export function mountUsage(card) {
  async function load(me) {
    const usage = await authed("GET", "/usage?days=7");
    const today = usage.days[usage.days.length - 1] || { inbound: 0, outbound: 0, assistant_messages: 0 };
    const credits = me.credits;
    const ownKey = usage.credits.own_key;
    const width = chartWidth(card);
    // Before a subscription there are no credits to count down: say when they start, not "$0.00 left".
    const subscribed = Boolean(me.subscription && me.subscription.status !== "NONE");
    const noCreditsYet = !ownKey && !subscribed && credits.total_cents === 0 && usage.credits.remaining_cents === 0;
    const total = Math.max(credits.total_cents, usage.credits.remaining_cents);
    const left = usage.credits.remaining_cents;
    const used = Math.max(0, total - left);
    const fill = el("div", {});
    const meter = el("div", { class: "meter", role: "meter", "aria-label": "AI credits left", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(left) }, fill);
    fill.style.width = total ? `${Math.round((100 * left) / total)}%` : "0%";
    card.replaceChildren(
      el(
        "div",
        { class: "stats" },
        el("div", { class: "stat" }, el("div", { class: "value", id: "usage-today", text: String(today.inbound) }), el("div", { class: "label", text: `${today.inbound === 1 ? "message" : "messages"} from you today (limit ${usage.limits.per_day})` })),
        el("div", { class: "stat" }, el("div", { class: "value", id: "assistant-today", text: String(today.assistant_messages) }), el("div", { class: "label", text: `${today.assistant_messages === 1 ? "message" : "messages"} from your assistant today` })),
        noCreditsYet
          ? el("div", { class: "stat" }, el("div", { class: "value", id: "credits-left", text: "—" }), el("div", { class: "label", text: "Credits start when you subscribe" }))
          : el("div", { class: "stat" }, el("div", { class: "value", id: "credits-left", text: ownKey ? "∞" : dollars(left) }), el("div", { class: "label", text: ownKey ? "your own key: no credit limit" : "AI credits left" })),
      ),
      outboundLine(usage.outbound),
      ...[workspaceLine(me.assistant && me.assistant.workspace)].filter(Boolean),
      el(
        "div",
        { class: "sub-block" },
        el("h3", { text: "AI credits" }),
        ownKey
          ? el("p", { class: "muted", text: "Your own Anthropic key is in use: Anthropic bills you directly and no credits are spent." })
          : noCreditsYet
            ? el("p", { class: "muted", id: "credits-line", text: "Credits start when you subscribe: each paid month includes $10.00 of AI credits." })
            : el("div", {}, meter, el("p", { class: "muted small", text: `${dollars(used)} used · ${dollars(left)} left of ${dollars(total)} this period` })),
      ),
      el(
        "div",
        { class: "sub-block chart" },
        el("h3", { text: "Last 7 days" }),
        el("div", { class: "legend" }, el("span", {}, el("i", { class: "in" }), "From you"), el("span", {}, el("i", { class: "out" }), "From your assistant")),
        chart(usage.days, width),
      ),
      spendBlock(usage.days, usage.spend, ownKey, width),
    );
    return usage;
  }
  return { load };
}
