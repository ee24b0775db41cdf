// Gives the heartbeat an effectively empty checklist (its "monitor scratch") when it has none, so an idle
// assistant's hourly heartbeat is skipped by OpenClaw without a model call (reason "empty-heartbeat-file").
// With no checklist at all OpenClaw runs a full agent turn every hour to ask the model whether anything needs
// attention. The checklist lives in OpenClaw's state database on the user's volume, so it outlasts restarts,
// upgrades and config rewrites; this runs at every start and writes only when no checklist exists (a
// compare-and-swap on revision 0), so whatever the assistant or its user wrote there is kept.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const PORT = Number(process.env.OPENCLAW_GATEWAY_PORT || 18789);
// A cold start on a busy host can take minutes; after this the step gives up until the next start.
const DEADLINE = Date.now() + 15 * 60 * 1000;
const POLL_MS = 2000;
export const CHECKLIST = `# Heartbeat checklist
<!-- Empty on purpose: heartbeats are skipped while nothing is listed here. Add one line per thing to check
on every heartbeat and remove it when done; recurring or conditional checks belong in automations. -->
`;

const log = (message) => console.log(`[yourclaw] heartbeat checklist: ${message}`);
const pause = () => new Promise((resolve) => setTimeout(resolve, POLL_MS));

async function openclaw(...args) {
  const { stdout } = await run("openclaw", [...args, "--json"], { timeout: 60_000, maxBuffer: 16 << 20 });
  return JSON.parse(stdout.slice(stdout.indexOf("{")));
}

async function ready() {
  try {
    const answer = await fetch(`http://127.0.0.1:${PORT}/readyz`, { signal: AbortSignal.timeout(4000) });
    return (await answer.json()).ready === true;
  } catch {
    return false;
  }
}

// The gateway creates its heartbeat job a moment after it answers ready.
async function heartbeatJob() {
  const { jobs } = await openclaw("cron", "list", "--all");
  return jobs.find((job) => job.declarationKey === "heartbeat:main" || job.payload?.kind === "heartbeat");
}

async function seed() {
  let lastError = "the gateway is not ready";
  while (Date.now() < DEADLINE) {
    try {
      if (await ready()) {
        const job = await heartbeatJob();
        if (job) {
          const current = await openclaw("cron", "scratch", job.id);
          if (current.scratch) return "kept (one exists)";
          try {
            await openclaw("cron", "scratch", job.id, "--set", CHECKLIST, "--expected-revision", "0");
            return "left empty";
          } catch (error) {
            // Written meanwhile by someone else: theirs stands.
            if (String(error.stderr || error.message).includes("changed concurrently")) return "kept (written meanwhile)";
            throw error;
          }
        }
        lastError = "no heartbeat job yet";
      }
    } catch (error) {
      lastError = String(error.stderr || error.message).trim().split("\n").pop();
    }
    await pause();
  }
  throw new Error(`gave up: ${lastError}`);
}

seed().then(log, (error) => {
  log(error.message);
  process.exitCode = 1;
});
