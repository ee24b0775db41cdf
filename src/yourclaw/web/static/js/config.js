// The public configuration the server embeds in every page (no secret ever reaches it).
const node = document.getElementById("yourclaw-config");
export const config = node ? JSON.parse(node.textContent) : {};
