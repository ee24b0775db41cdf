// Ids of inbound messages whose turn already ran, kept on the assistant's volume. Delivery is at least
// once: a message whose ack was lost (crash, network) comes back, and running its turn again would answer
// twice. A finished id is only acked again.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";

export const FINISHED_KEEP = 1000;

export class FinishedIds {
  /** `file` lives in the state dir; `keep` bounds it (redelivery concerns recent messages only). */
  constructor(file, { keep = FINISHED_KEEP } = {}) {
    this.file = file;
    this.keep = keep;
    this.ids = [];
    this.known = new Set();
    this.writing = Promise.resolve();
  }

  async load() {
    try {
      const parsed = JSON.parse(await readFile(this.file, "utf8"));
      const ids = Array.isArray(parsed?.ids) ? parsed.ids.filter((id) => typeof id === "string") : [];
      this.ids = ids.slice(-this.keep);
    } catch (err) {
      if (err?.code !== "ENOENT") this.ids = []; // unreadable: start empty rather than not at all
    }
    this.known = new Set(this.ids);
    return this;
  }

  has(id) {
    return this.known.has(id);
  }

  /** Records `id` and writes the file atomically (temp file + rename); writes are serialised. */
  add(id) {
    if (this.known.has(id)) return this.writing;
    this.ids.push(id);
    this.known.add(id);
    while (this.ids.length > this.keep) this.known.delete(this.ids.shift());
    const snapshot = JSON.stringify({ ids: this.ids });
    this.writing = this.writing.then(() => this.#write(snapshot)).catch(() => {});
    return this.writing;
  }

  async #write(snapshot) {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, snapshot, { mode: 0o600 });
    await rename(temp, this.file);
  }
}
