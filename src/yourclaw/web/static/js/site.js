// Marketing pages: the phone-sized menu and the conversation demo, revealed message by message.
const toggle = document.querySelector(".nav-toggle");
const nav = document.getElementById("site-nav");
if (toggle && nav) {
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}
for (const link of document.querySelectorAll(".site-nav a")) {
  if (link.getAttribute("href") === location.pathname) link.setAttribute("aria-current", "page");
}

const chat = document.getElementById("demo-chat");
const calm = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
if (chat && !calm) {
  const bubbles = [...chat.children];
  const typing = document.createElement("div");
  typing.className = "typing";
  typing.innerHTML = "<span></span><span></span><span></span>";
  const play = () => {
    bubbles.forEach((b) => b.remove());
    let index = 0;
    const next = () => {
      if (index >= bubbles.length) {
        setTimeout(play, 6000);
        return;
      }
      const bubble = bubbles[index++];
      if (bubble.classList.contains("them")) {
        chat.append(typing);
        setTimeout(() => {
          typing.remove();
          chat.append(bubble);
          setTimeout(next, 900);
        }, 1100);
      } else {
        chat.append(bubble);
        setTimeout(next, 700);
      }
    };
    next();
  };
  play();
}
