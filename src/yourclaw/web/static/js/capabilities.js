// "What your assistant can do": a few first requests, each one click away. With the local simulator the
// click sends it there; in production it opens WhatsApp with the words filled in (wa.me ?text=). The first
// WhatsApp message after READY says the same in two lines (runtime.apply.READY_MESSAGE).
import { el } from "./ui.js";

// [what it shows, the words sent, a note for what the words alone cannot carry]
export const EXAMPLES = [
  ["A reminder", "Remind me tomorrow at 9 to call the dentist"],
  ["Tell me when…", "Tell me if it will rain tomorrow morning, every evening at 7"],
  ["A daily digest", "Every morning at 8, send me three short science headlines"],
  ["A look-up", "Find the opening hours of the nearest post office and how to get there"],
  ["A picture", "What did I spend, and on what?", "send it with a photo of a receipt"],
  ["A plan", "Help me plan a 3-day trip to Lisbon with a rough budget"],
];

export function mountCapabilities(root, { whatsappNumber, simulator = null }) {
  const digits = (whatsappNumber || "").replace(/[^0-9]/g, "");
  function item([label, text, note]) {
    const words = el("span", { class: "example-text" }, `“${text}”`, note ? el("span", { class: "example-note", text: ` (${note})` }) : null);
    const action = simulator
      ? el("button", { type: "button", class: "example", "data-example": label, onclick: () => simulator(text) }, el("strong", { text: label }), words)
      : el("a", { class: "example", href: `https://wa.me/${digits}?text=${encodeURIComponent(text)}`, target: "_blank", rel: "noopener", "data-example": label }, el("strong", { text: label }), words);
    return el("li", {}, action);
  }
  root.replaceChildren(
    el("p", { class: "muted", text: simulator ? "Click one to send it from the simulator below." : "Tap one to open WhatsApp with it written for you." }),
    el("ul", { class: "examples", id: "examples" }, EXAMPLES.map(item)),
    el("p", { class: "muted small", text: "It remembers what you tell it, can browse the web, read photos and files, and write to you first when something you asked for happens." }),
  );
}
