// Sync that never loses or doubles: items leave the queue only when the server answered `created`
// or `duplicate` for them; a rejected item stays with its problem; a network failure leaves
// everything as it was and retries with back-off. One tab at a time (Web Locks), chunks of ≤ 500.
import { allItems, applyOutcomes, deviceId, getMeta, setMeta, unseal } from "./store.js";

export const CHUNK = 500;
const BACKOFF_SECONDS = [5, 15, 30, 60, 120, 300];
let failures = 0;
let retryTimer = null;
let waitingForLock = false;

export function pending(items) {
  return items.filter((item) => item.state === "waiting" || item.state === "rejected");
}

export function sendable(items) {
  return items
    .filter((item) => item.state === "waiting")
    .sort((a, b) => (a.recorded_at < b.recorded_at ? -1 : a.recorded_at > b.recorded_at ? 1 : 0));
}

// "Everything I recorded up to this instant is on the server or in this request": just before the
// oldest item still not accepted after this chunk, or now when nothing else is held.
export function syncedThrough(later, now) {
  const held = later.map((item) => Date.parse(item.recorded_at)).filter((t) => !Number.isNaN(t));
  const until = held.length ? Math.min(now, Math.min(...held) - 1) : now;
  return new Date(until).toISOString();
}

// How many items stay on the device besides this chunk (later chunks, items rejected and waiting
// to be corrected, progress and ratings not sent yet): the batch's `pending_count`. The server adds
// this chunk's rejected reports, so the supervisors see what is still on the phone after the batch.
export function pendingBesides(items, chunk) {
  const sending = new Set(chunk.map((item) => item.id));
  return pending(items).filter((item) => !sending.has(item.id)).length;
}

class Offline extends Error {}

async function call(session, method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${session.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new Offline(String(error));
  }
  if (response.status >= 500 || response.status === 408 || response.status === 429) {
    throw new Offline(`HTTP ${response.status}`);
  }
  let document = null;
  try {
    document = await response.json();
  } catch (error) {
    throw new Offline(`unreadable answer (${error})`);
  }
  return { status: response.status, body: document, date: response.headers.get("date") };
}

async function sendMeetings(session, device, items, clock) {
  for (let start = 0; start < items.length || start === 0; start += CHUNK) {
    const chunk = items.slice(start, start + CHUNK);
    const stored = await allItems();
    const later = items.slice(start + CHUNK).concat(stored.filter((i) => i.kind === "meeting" && i.state === "rejected"));
    let body = {
      device_id: device,
      synced_through: syncedThrough(later, clock()),
      pending_count: pendingBesides(stored, chunk),
      reports: chunk.map((item) => item.body),
    };
    let answer = await call(session, "POST", "/api/v1/meetings/batch", body);
    const future = answer.status === 422 && (answer.body.errors || []).some((e) => e.field === "synced_through");
    if (future && answer.date) {
      // The phone's clock runs ahead of the server's: claim no more than the server's now.
      body = { ...body, synced_through: new Date(Math.min(Date.parse(body.synced_through), Date.parse(answer.date))).toISOString() };
      answer = await call(session, "POST", "/api/v1/meetings/batch", body);
    }
    if (answer.status === 401) throw new SignedOut();
    if (answer.status !== 200) throw new Offline(`batch refused: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    const byId = new Map(chunk.map((item) => [item.body.report_id, item]));
    const outcomes = [];
    for (const result of answer.body.results) {
      const item = byId.get(result.report_id) || chunk[result.index];
      if (!item) continue;
      if (result.outcome === "rejected") {
        outcomes.push({ id: item.id, revision: item.revision, changes: { state: "rejected", problem: result.problem } });
      } else {
        outcomes.push({ id: item.id, revision: item.revision, changes: { state: "sent", sent_at: new Date(clock()).toISOString(), result: result.result, problem: null } });
      }
    }
    await applyOutcomes(outcomes);
    if (items.length === 0) break;
  }
}

async function sendOne(session, item) {
  const body = item.sealed ? await unseal(item.sealed) : item.body;
  const path = item.kind === "progress" ? `/api/v1/activities/${encodeURIComponent(item.activity_id)}/progress` : "/api/v1/evaluations";
  const answer = await call(session, "POST", path, body);
  if (answer.status === 401) throw new SignedOut();
  if (answer.status === 200 || answer.status === 201) return { state: "sent", sent_at: new Date().toISOString(), problem: null };
  return { state: "rejected", problem: answer.body };
}

class SignedOut extends Error {}

async function syncOnce(clock, log) {
  const session = await getMeta("session");
  if (!session) return "signed-out";
  const device = await deviceId();
  const items = await allItems();
  const fetchWorklist = () => call(session, "GET", `/api/v1/facilitators/${encodeURIComponent(session.facilitator_id)}/worklist`);
  // Items first, so the worklist that comes back already counts them; with nothing to send the
  // heartbeat and the worklist go out together (one round trip less on a slow link).
  const early = sendable(items).length === 0 ? fetchWorklist() : null;
  early?.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  await sendMeetings(session, device, sendable(items).filter((i) => i.kind === "meeting"), clock);
  for (const item of sendable(items).filter((i) => i.kind !== "meeting")) {
    const changes = await sendOne(session, item);
    await applyOutcomes([{ id: item.id, revision: item.revision, changes }]);
  }
  const worklist = await (early || fetchWorklist());
  if (worklist.status === 401) throw new SignedOut();
  if (worklist.status === 200) await setMeta("worklist", worklist.body);
  await setMeta("last_sync", new Date(clock()).toISOString());
  log("ok");
  return "ok";
}

// Run one sync under the cross-tab lock. Returns "ok", "offline", "signed-out" or "busy".
export async function sync({ clock = Date.now, onChange = () => {}, log = () => {} } = {}) {
  if (waitingForLock) return "busy";
  waitingForLock = true;
  const run = async () => {
    waitingForLock = false;
    try {
      const outcome = await syncOnce(clock, log);
      failures = 0;
      await setMeta("last_error", null);
      return outcome;
    } catch (error) {
      if (error instanceof SignedOut) {
        await setMeta("last_error", "signed-out");
        return "signed-out";
      }
      failures += 1;
      await setMeta("last_error", String(error.message || error));
      scheduleRetry(clock, onChange, log);
      return "offline";
    } finally {
      onChange();
    }
  };
  if (navigator.locks) return navigator.locks.request("pantau-sync", run);
  return run();
}

function scheduleRetry(clock, onChange, log) {
  clearTimeout(retryTimer);
  const base = BACKOFF_SECONDS[Math.min(failures - 1, BACKOFF_SECONDS.length - 1)];
  const seconds = base * (0.8 + Math.random() * 0.4);
  setMeta("next_retry", new Date(clock() + seconds * 1000).toISOString());
  retryTimer = setTimeout(() => sync({ clock, onChange, log }), seconds * 1000);
}
