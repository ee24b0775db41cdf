// The sidebar's highlight follows the section being read (and a clicked link, which scrolls there).
export function followScroll(links) {
  const byId = new Map([...links].map((a) => [a.getAttribute("href").slice(1), a]));
  const visible = new Map();
  const mark = () => {
    // The topmost section that is on screen wins.
    const top = [...visible.entries()].filter(([, on]) => on).map(([id]) => document.getElementById(id)).filter((s) => s && !s.hidden);
    top.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
    if (!top.length) return;
    for (const a of links) a.removeAttribute("aria-current");
    byId.get(top[0].id).setAttribute("aria-current", "true");
  };
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) visible.set(entry.target.id, entry.isIntersecting);
      mark();
    },
    { rootMargin: "-80px 0px -55% 0px" },
  );
  for (const id of byId.keys()) {
    const section = document.getElementById(id);
    if (section) observer.observe(section);
  }
}
