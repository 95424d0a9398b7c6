// Aplikasi Pendamping: screens, routing and the moments that trigger a sync (open, save,
// `online`, a timer while open). Everything shown is computed on the device from the last
// worklist and the local items, so the app works the same with or without signal.
import { allItems, deleteItem, deviceId, getItem, getMeta, putItem, seal, setMeta } from "./store.js";
import { pending, sync } from "./sync.js";
import {
  formatAge, formatDate, formatDateTime, formatTime, instantOf, lang, localParts, monthName, problemText, ruleName,
  severityName, t, zoneName,
} from "./i18n.js";
import { h, toast } from "./ui.js";

const SYNC_EVERY_MS = 60000;
const SOON_DAYS = 14;
const DAY_MS = 86400000;
const CRITERIA = {
  facilitator_rates_group: ["kehadiran_anggota", "keaktifan", "kekompakan", "tindak_lanjut"],
  group_rates_facilitator: ["kehadiran", "komunikasi", "penguasaan_materi", "kepedulian"],
};
const channel = "BroadcastChannel" in self ? new BroadcastChannel("pantau-lapangan") : null;
const main = () => document.getElementById("main");
const now = () => Date.now();

// ---------- state read from the device ----------
async function load() {
  const [session, worklist, items, lastSync, lastError, persisted] = await Promise.all([
    getMeta("session"), getMeta("worklist"), allItems(), getMeta("last_sync"), getMeta("last_error"), getMeta("persisted"),
  ]);
  return { session, worklist, items, lastSync, lastError, persisted };
}
const homeZone = (state) => state.worklist?.time_zone || "Asia/Jakarta";
const groupOf = (state, id) => state.worklist?.groups.find((g) => g.id === id);
const memberName = (group, ref) => group?.members.find((m) => m.member_ref === ref)?.display_name || `${t("unnamed_member")} (${ref.slice(0, 8)}…)`;

// ---------- the one honest sync line ----------
async function renderSyncLine(state) {
  const line = document.getElementById("sync-line");
  const waiting = pending(state.items);
  const rejected = waiting.filter((i) => i.state === "rejected").length;
  const oldest = waiting.reduce((min, i) => Math.min(min, Date.parse(i.created_at)), Infinity);
  const parts = [
    h("span", { "data-testid": "last-sync" }, `${t("last_sync")}: `, h("b", {}, state.lastSync ? formatDateTime(state.lastSync, homeZone(state)) : t("never"))),
    // Waiting and rejected are counted apart, so "not sent yet" never hides "needs fixing".
    h("span", { "data-testid": "waiting", "data-count": waiting.length, class: waiting.length ? "warn" : "ok" },
      waiting.length - rejected ? `${waiting.length - rejected} ${t("waiting")}` : rejected ? "" : t("all_sent")),
  ];
  if (waiting.length) parts.push(h("span", { "data-testid": "oldest" }, `${t("oldest")}: ${formatAge(now() - oldest)}`));
  if (rejected) parts.push(h("a", { href: "#/antrian", class: "bad", "data-testid": "rejected" }, `${rejected} ${t("rejected_n")}`));
  if (!navigator.onLine) parts.push(h("span", { class: "muted" }, t("offline")));
  else if (state.lastError && state.lastError !== "signed-out") parts.push(h("span", { class: "muted" }, t("sync_error")));
  line.replaceChildren(h("div", { class: "sync-facts" }, parts), h("button", { type: "button", class: "small", onclick: () => triggerSync() }, t("sync_now")));
  line.dataset.waiting = String(waiting.length);
}

// ---------- Hari ini ----------
function periodOfInstant(value, zone, cadence) {
  const { date } = localParts(value, zone);
  const [year, month] = date.split("-").map(Number);
  const first = cadence === "quarterly" ? 3 * Math.floor((month - 1) / 3) + 1 : month;
  return `${year}-${String(first).padStart(2, "0")}`;
}

function dueMeeting(group, items) {
  const cadence = group.cadence || "monthly";
  const local = new Set(items.filter((i) => i.kind === "meeting" && i.group_id === group.id && i.state !== "sent")
    .map((i) => periodOfInstant(i.body.started_at, group.time_zone, cadence)));
  const sentLocal = new Set(items.filter((i) => i.kind === "meeting" && i.group_id === group.id && i.state === "sent")
    .map((i) => periodOfInstant(i.body.started_at, group.time_zone, cadence)));
  const current = periodOfInstant(now(), group.time_zone, cadence);
  for (const scheduled of group.scheduled) {
    if (scheduled.period > current) break;
    const state = scheduled.reported || sentLocal.has(scheduled.period) ? "reported" : local.has(scheduled.period) ? "waiting" : "due";
    if (state === "due" || scheduled.period === current) return { ...scheduled, state };
  }
  return group.scheduled.find((s) => s.period >= current) ? { ...group.scheduled.find((s) => s.period >= current), state: "due" } : null;
}

function dueLine(due, zone) {
  if (!due) return null;
  const label = `${t("meeting_due")} ${monthName(due.period)}`;
  if (due.state === "reported") return h("p", { class: "ok" }, `${label}: ${t("reported")} ✓`);
  if (due.state === "waiting") return h("p", { class: "warn" }, `${label}: ${t("recorded_waiting")}`);
  const days = Math.ceil((Date.parse(due.due_at) - now()) / DAY_MS);
  const when = `${t("due_by")} ${formatDate(due.due_at, zone)}`;
  if (days < 0) return h("p", { class: "bad", "data-testid": "overdue" }, `${label}: ${when} — ${t("overdue_by")} ${-days} ${t("days")}`);
  if (days === 0) return h("p", { class: "warn" }, `${label}: ${when} — ${t("due_today")}`);
  return h("p", {}, `${label}: ${when} — ${days} ${t("days_left")}`);
}

function localStatus(items, activityId) {
  const mine = items.filter((i) => i.kind === "progress" && i.activity_id === activityId).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  return mine[0]?.body.status;
}

function renderToday(state) {
  if (!state.worklist) return [h("p", { class: "notice" }, t("no_worklist"))];
  const today = localParts(now(), homeZone(state)).date;
  const soon = new Date(Date.parse(today) + SOON_DAYS * DAY_MS).toISOString().slice(0, 10);
  if (!state.worklist.groups.length) return [h("p", {}, t("no_groups"))];
  return state.worklist.groups.map((group) => {
    const activities = group.activities
      .map((a) => ({ ...a, status: localStatus(state.items, a.id) || a.status }))
      .filter((a) => a.status !== "done" && a.due_on <= soon);
    return h("section", { class: "card", "data-group": group.id },
      h("h2", {}, group.name),
      h("p", { class: "muted" }, `${group.members.length} ${t("members")} · ${zoneName(group.time_zone)}`),
      dueLine(dueMeeting(group, state.items), group.time_zone),
      activities.length ? h("div", {}, h("h3", {}, t("activities_due")), h("ul", {}, activities.map((a) =>
        h("li", { class: a.due_on < today ? "bad" : "" }, `${a.title} — ${t("due_by")} ${formatDate(a.due_on + "T12:00:00Z", group.time_zone)} (${t("st_" + a.status)})`)))) : null,
      group.open_deviations.length ? h("div", {}, h("h3", {}, t("open_deviations")), h("ul", {}, group.open_deviations.map((d) =>
        h("li", { class: d.severity === "critical" ? "bad" : "warn" }, `${ruleName(d.rule)} (${severityName(d.severity)}), ${formatDate(d.detected_at, group.time_zone)}`)))) : null,
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: `#/catat/${encodeURIComponent(group.id)}` }, t("record_meeting")),
        h("a", { class: "button", href: `#/rencana/${encodeURIComponent(group.id)}` }, t("plan")),
        h("a", { class: "button", href: `#/nilai/${encodeURIComponent(group.id)}` }, t("rate_group")),
        h("a", { class: "button", href: `#/ketua/${encodeURIComponent(group.id)}` }, t("hand_to_chair")),
      ),
    );
  });
}

// ---------- record a meeting, roster first ----------
function timerKey(groupId) {
  return `pantau-timer-${groupId}`;
}

function renderMeetingForm(state, groupId, existing) {
  const group = groupOf(state, groupId);
  if (!group) return [h("p", { class: "bad" }, t("unknown_group"))];
  const zone = group.time_zone;
  const programme = state.worklist.programmes[group.programme] || { modules: [] };
  const body = existing?.body;
  const problem = existing?.state === "rejected" ? problemText(existing.problem) : null;
  const attendance = new Map((body?.attendance || []).map((a) => [a.member_ref, a.status]));
  const timer = JSON.parse(localStorage.getItem(timerKey(groupId)) || "{}");
  const start = body ? localParts(body.started_at, zone) : timer.start ? localParts(timer.start, zone) : { date: localParts(now(), zone).date, time: "" };
  const end = body ? localParts(body.ended_at, zone) : { time: "" };
  const form = h("form", { class: "meeting-form", novalidate: true });
  const field = (name) => form.elements.namedItem(name);
  const marked = (name) => (problem && problem.field.split(".")[0].replace(/\[\d+\]$/, "") === name ? "invalid" : "");

  const statusButtons = (ref) => h("div", { class: "tri", role: "group", "data-member": ref },
    ["present", "absent", "excused"].map((status) => h("button", {
      type: "button", "data-status": status, "aria-pressed": attendance.get(ref) === status ? "true" : "false",
      onclick: (event) => {
        attendance.set(ref, status);
        for (const b of event.target.parentElement.children) b.setAttribute("aria-pressed", b.dataset.status === status ? "true" : "false");
        count.textContent = summary();
      },
    }, t(status))));
  const summary = () => `${[...attendance.values()].filter((s) => s === "present").length} / ${group.members.length} ${t("present").toLowerCase()}`;
  const count = h("span", { class: "count", "data-testid": "present-count" }, summary());
  const roster = h("ol", { class: "roster" }, group.members.map((m, index) => h("li", { "data-index": index },
    h("span", { class: "member" }, memberName(group, m.member_ref), m.member_ref === group.chair_member_ref ? h("small", {}, ` (${t("chair").toLowerCase()})`) : null),
    statusButtons(m.member_ref))));
  const allPresent = () => {
    for (const m of group.members) attendance.set(m.member_ref, "present");
    for (const b of roster.querySelectorAll("button[data-status]")) b.setAttribute("aria-pressed", b.dataset.status === "present" ? "true" : "false");
    count.textContent = summary();
  };
  const setNow = (which) => {
    const parts = localParts(now(), zone);
    if (which === "start") {
      field("date").value = parts.date;
      field("start").value = parts.time;
      localStorage.setItem(timerKey(groupId), JSON.stringify({ start: new Date(now()).toISOString() }));
      runningNote.hidden = false;
    } else {
      field("end").value = parts.time;
      localStorage.removeItem(timerKey(groupId));
      runningNote.hidden = true;
    }
  };
  const runningNote = h("p", { class: "warn", hidden: !timer.start || !!body }, `⏱ ${t("timer_running")}`);
  const ledBy = body?.led_by || "facilitator";
  const moduleOptions = [...programme.modules];
  if (body?.module && !moduleOptions.includes(body.module)) moduleOptions.push(body.module);

  form.append(...[
    h("h2", {}, `${t("form_title")}: ${group.name}`),
    problem ? h("div", { class: "problem", role: "alert", "data-testid": "problem" }, `${t("state_rejected")} — ${problem.label}: ${problem.message}`) : null,
    h("fieldset", { class: "attendance" },
      h("legend", {}, t("attendance"), " ", count),
      h("button", { type: "button", class: "primary", onclick: allPresent, "data-testid": "all-present" }, t("all_present")),
      roster),
    h("fieldset", { class: "times" },
      h("legend", {}, t("time"), ` (${zoneName(zone)})`),
      runningNote,
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => setNow("start") }, t("start_timer")),
        h("button", { type: "button", onclick: () => setNow("end") }, t("stop_timer"))),
      h("label", { class: marked("started_at") }, t("date"), h("input", { type: "date", name: "date", value: start.date, required: true })),
      h("div", { class: "row" },
        h("label", { class: marked("started_at") }, t("start"), h("input", { type: "time", name: "start", value: start.time, required: true })),
        h("label", { class: marked("ended_at") }, t("end"), h("input", { type: "time", name: "end", value: end.time, required: true })))),
    h("fieldset", { class: "led-by " + marked("led_by") },
      h("legend", {}, t("led_by")),
      ["facilitator", "chair", "other"].map((value) => h("label", { class: "radio" },
        h("input", { type: "radio", name: "led_by", value, checked: value === ledBy }), t("led_" + value)))),
    h("label", { class: marked("module") }, t("module"), h("select", { name: "module" },
      h("option", { value: "" }, t("choose")),
      moduleOptions.map((m) => h("option", { value: m, selected: body?.module === m }, m)))),
    h("label", { class: marked("topic") }, t("topic"), h("input", { name: "topic", maxlength: 500, value: body?.topic || "" })),
    h("label", {}, t("notes"), h("textarea", { name: "notes", rows: 3 }, existing?.notes || "")),
    h("p", { class: "bad", id: "form-error", role: "alert", hidden: true }),
    h("div", { class: "actions sticky" },
      h("button", { type: "submit", class: "primary", "data-testid": "save" }, t("save")),
      h("a", { class: "button", href: "#/hari-ini" }, t("cancel"))),
  ].filter(Boolean));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("form-error");
    const fail = (text) => { error.textContent = text; error.hidden = false; error.scrollIntoView({ block: "center" }); };
    if (!field("date").value || !field("start").value || !field("end").value) return fail(t("missing_times"));
    if (attendance.size < group.members.length) return fail(t("missing_attendance"));
    const startedAt = instantOf(field("date").value, field("start").value, zone);
    let endedAt = instantOf(field("date").value, field("end").value, zone);
    if (endedAt <= startedAt) return fail(t("end_before_start"));
    const led = form.querySelector("input[name=led_by]:checked").value;
    const reportId = existing?.id || crypto.randomUUID();
    const recordedAt = new Date(Math.max(now(), Date.parse(endedAt))).toISOString();
    const item = {
      id: reportId, kind: "meeting", state: "waiting", revision: (existing?.revision || 0) + 1,
      created_at: existing?.created_at || new Date(now()).toISOString(), recorded_at: recordedAt,
      group_id: group.id, group_name: group.name, notes: field("notes").value.trim(), problem: null,
      body: {
        report_id: reportId, group_id: group.id, started_at: startedAt, ended_at: endedAt,
        facilitator_present: led === "facilitator", led_by: led,
        module: field("module").value || null, topic: field("topic").value.trim() || null,
        attendance: group.members.map((m) => ({ member_ref: m.member_ref, status: attendance.get(m.member_ref) })),
        recorded_at: recordedAt, device_id: await deviceId(),
      },
    };
    await putItem(item);
    localStorage.removeItem(timerKey(groupId));
    toast(t("saved"));
    changed();
    location.hash = "#/hari-ini";
    triggerSync();
  });
  return [form];
}

// ---------- the queue: waiting, rejected (with the field named), sent ----------
function itemTitle(state, item) {
  if (item.kind === "meeting") {
    const zone = groupOf(state, item.group_id)?.time_zone || homeZone(state);
    return `${t("kind_meeting")} ${item.group_name || item.group_id} — ${formatDateTime(item.body.started_at, zone)}${item.body.led_by !== "facilitator" ? ` (${t("led_chair_note").toLowerCase()})` : ""}`;
  }
  if (item.kind === "progress") return `${t("kind_progress")}: ${item.activity_title || item.activity_id} → ${t("st_" + item.body.status)}`;
  if (item.sealed) return t("sealed");
  return `${t("kind_evaluation")} ${item.group_name || item.group_id} (${t("rate_group").toLowerCase()})`;
}

function renderQueue(state) {
  const open = pending(state.items).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  const sent = state.items.filter((i) => i.state === "sent").sort((a, b) => (a.sent_at < b.sent_at ? 1 : -1)).slice(0, 50);
  const row = (item) => {
    const problem = item.state === "rejected" ? problemText(item.problem) : null;
    return h("li", { class: "item " + item.state, "data-id": item.id, "data-state": item.state },
      h("div", {}, h("b", {}, t("state_" + item.state)), " · ", itemTitle(state, item)),
      problem ? h("p", { class: "problem", "data-testid": "problem", "data-field": problem.field }, `${problem.label}: ${problem.message}`) : null,
      h("div", { class: "actions" },
        item.kind === "meeting" && item.state === "rejected" ? h("a", { class: "button primary", href: `#/perbaiki/${item.id}` }, t("fix")) : null,
        item.kind === "meeting" ? h("a", { class: "button", href: `#/daftar-hadir/${item.id}` }, t("print")) : null,
        item.state === "rejected" && item.kind !== "meeting" ? h("button", { type: "button", onclick: async () => { await deleteItem(item.id); changed(); } }, t("discard")) : null));
  };
  return [
    h("h2", {}, t("queue")),
    open.length ? h("ul", { class: "items" }, open.map(row)) : h("p", { class: "ok" }, t("all_sent")),
    sent.length ? h("h3", {}, t("sent_items")) : null,
    sent.length ? h("ul", { class: "items" }, sent.map(row)) : null,
  ];
}

// ---------- printable attendance sheet (Daftar Hadir) ----------
function renderSheet(state, item) {
  if (!item || item.kind !== "meeting") return [h("p", {}, t("none"))];
  const group = groupOf(state, item.group_id);
  const zone = group?.time_zone || homeZone(state);
  const programme = state.worklist?.programmes[group?.programme]?.name?.[lang()] || group?.programme || "";
  const b = item.body;
  const facts = [
    [t("group"), `${item.group_name || item.group_id}`], [t("village"), group?.region_code || ""], ["Program", programme],
    [t("date"), formatDate(b.started_at, zone)], [t("time"), `${formatTime(b.started_at, zone)}–${formatTime(b.ended_at, zone)} ${zoneName(zone)}`],
    [t("led_by"), t("led_" + b.led_by)], [t("facilitator"), state.session?.facilitator_name || ""],
    [t("module"), b.module || "—"], [t("topic"), b.topic || "—"],
  ];
  return [h("article", { class: "sheet" },
    h("div", { class: "no-print actions" }, h("button", { type: "button", class: "primary", onclick: () => print() }, t("print_now"))),
    h("h2", {}, t("sheet_title")),
    h("table", { class: "facts" }, facts.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
    h("table", { class: "roster-sheet" },
      h("thead", {}, h("tr", {}, h("th", {}, t("no")), h("th", {}, t("name")), h("th", {}, t("presence")), h("th", {}, t("signature")))),
      h("tbody", {}, b.attendance.map((a, index) => h("tr", {}, h("td", {}, index + 1), h("td", {}, memberName(group, a.member_ref)), h("td", {}, t(a.status)), h("td", { class: "sign" }, ""))))),
    h("p", {}, `${t("present")}: ${b.attendance.filter((a) => a.status === "present").length} / ${b.attendance.length}`),
    item.notes ? h("p", {}, `${t("notes").split(" (")[0]}: ${item.notes}`) : null,
    h("div", { class: "signatures" },
      h("div", {}, t("facilitator"), h("div", { class: "line" }), state.session?.facilitator_name || ""),
      h("div", {}, t("chair"), h("div", { class: "line" }), group?.chair_member_ref ? memberName(group, group.chair_member_ref) : "")),
  )];
}

// ---------- plans and progress ----------
function renderPlan(state, groupId) {
  const group = groupOf(state, groupId);
  if (!group) return [h("p", { class: "bad" }, t("unknown_group"))];
  if (!group.activities.length) return [h("h2", {}, `${t("plan")}: ${group.name}`), h("p", {}, t("none"))];
  const today = localParts(now(), group.time_zone).date;
  return [h("h2", {}, `${t("plan")}: ${group.name}`), ...group.activities.map((a) => {
    const status = localStatus(state.items, a.id) || a.status;
    const form = h("form", { class: "card activity", "data-activity": a.id },
      h("h3", { class: a.due_on < today && status !== "done" ? "bad" : "" }, a.title),
      h("p", { class: "muted" }, `${t("stage_" + a.stage)} · ${t("resp_" + a.responsible)} · ${t("due_by")} ${formatDate(a.due_on + "T12:00:00Z", group.time_zone)}`),
      h("label", {}, t("status"), h("select", { name: "status" }, ["not_started", "in_progress", "done", "blocked"].map((s) => h("option", { value: s, selected: s === status }, t("st_" + s))))),
      a.indicator ? h("label", {}, `${t("indicator")}: ${a.indicator.name} (${a.indicator.baseline} → ${a.indicator.target} ${a.indicator.unit})`, h("input", { name: "value", type: "number", step: "any", inputmode: "decimal" })) : null,
      h("button", { type: "submit", class: "primary" }, t("save_progress")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = crypto.randomUUID();
      const value = form.elements.namedItem("value")?.value;
      await putItem({
        id, kind: "progress", state: "waiting", revision: 1, activity_id: a.id, activity_title: a.title, group_id: group.id,
        created_at: new Date(now()).toISOString(), recorded_at: new Date(now()).toISOString(),
        body: { progress_id: id, reported_on: localParts(now(), group.time_zone).date, status: form.elements.namedItem("status").value,
          indicator_value: value === undefined || value === "" ? null : Number(value), recorded_at: new Date(now()).toISOString() },
      });
      toast(t("saved"));
      changed();
      triggerSync();
    });
    return form;
  })];
}

// ---------- evaluations: the facilitator rates the group; the group rates its facilitator, sealed ----------
function scoresForm(direction, onSave, submitLabel) {
  const form = h("form", { class: "scores" },
    CRITERIA[direction].map((criterion) => h("fieldset", { class: "score" }, h("legend", {}, t("crit_" + criterion)),
      [1, 2, 3, 4, 5].map((score) => h("label", { class: "radio" }, h("input", { type: "radio", name: criterion, value: score, required: true }), `${score} ${t("score_" + score)}`)))),
    h("label", {}, t("comment"), h("textarea", { name: "comment", rows: 3, maxlength: 2000 })),
    h("p", { class: "bad", id: "form-error", hidden: true }),
    h("button", { type: "submit", class: "primary" }, submitLabel));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scores = {};
    for (const criterion of CRITERIA[direction]) {
      const chosen = form.querySelector(`input[name=${criterion}]:checked`);
      if (!chosen) { const e = form.querySelector("#form-error"); e.textContent = `${t("crit_" + criterion)}: ${t("no_status")}`; e.hidden = false; return; }
      scores[criterion] = Number(chosen.value);
    }
    await onSave(scores, form.elements.namedItem("comment").value.trim() || null);
  });
  return form;
}

function evaluationBody(state, group, direction, scores, comment) {
  const id = crypto.randomUUID();
  return {
    evaluation_id: id, group_id: group.id, facilitator_id: state.session.facilitator_id, direction,
    period: localParts(now(), group.time_zone).date.slice(0, 7), scores, comment, recorded_at: new Date(now()).toISOString(),
  };
}

function renderRateGroup(state, groupId) {
  const group = groupOf(state, groupId);
  if (!group) return [h("p", { class: "bad" }, t("unknown_group"))];
  return [h("h2", {}, `${t("rate_group")}: ${group.name}`), scoresForm("facilitator_rates_group", async (scores, comment) => {
    const body = evaluationBody(state, group, "facilitator_rates_group", scores, comment);
    await putItem({ id: body.evaluation_id, kind: "evaluation", state: "waiting", revision: 1, group_id: group.id, group_name: group.name,
      created_at: body.recorded_at, recorded_at: body.recorded_at, body });
    toast(t("saved"));
    changed();
    location.hash = "#/hari-ini";
    triggerSync();
  }, t("send"))];
}

function renderChair(state, groupId) {
  const group = groupOf(state, groupId);
  if (!group) return [h("p", { class: "bad" }, t("unknown_group"))];
  document.body.dataset.mode = "chair";
  const stage = h("div", { class: "chair" });
  const intro = [h("h2", {}, `${t("hand_to_chair")}: ${group.name}`), h("p", {}, t("chair_intro")),
    h("button", { type: "button", class: "primary", "data-testid": "chair-start", onclick: () => stage.replaceChildren(form) }, t("chair_start"))];
  const form = scoresForm("group_rates_facilitator", async (scores, comment) => {
    const body = evaluationBody(state, group, "group_rates_facilitator", scores, comment);
    // Only the ciphertext is stored: no screen of the app reads the answers back.
    await putItem({ id: body.evaluation_id, kind: "evaluation", state: "waiting", revision: 1, group_id: group.id,
      direction: "group_rates_facilitator", created_at: body.recorded_at, recorded_at: body.recorded_at, sealed: await seal(body) });
    stage.replaceChildren(h("p", { class: "ok big", "data-testid": "chair-done" }, t("chair_done")),
      h("button", { type: "button", onclick: () => { delete document.body.dataset.mode; location.replace("#/hari-ini"); } }, t("back_to_facilitator")));
    changed();
    triggerSync();
  }, t("send"));
  stage.replaceChildren(...intro);
  return [stage];
}

// ---------- account: who is signed in and until when, storage, version, language ----------
function renderAccount(state) {
  const session = state.session;
  const zone = homeZone(state);
  const persisted = state.persisted === true ? t("storage_persisted") : state.persisted === false ? t("storage_best_effort") : t("storage_unknown");
  return [h("h2", {}, t("account")),
    session ? h("p", { "data-testid": "signed-in" }, `${t("signed_in_as")} ${session.facilitator_name} (${session.facilitator_id}), ${t("until")} ${formatDateTime(session.expires_at, zone)}`) : h("p", { class: "bad" }, t("sign_in_needed")),
    h("p", { "data-testid": "storage" }, persisted),
    h("p", { class: "muted" }, `${t("version")}: `, h("span", { "data-testid": "version" }, document.querySelector("meta[name=app-version]").content)),
    h("p", { class: "muted" }, `${t("device")}: ${state.deviceId}`),
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => { localStorage.setItem("pantau-lang", lang() === "id" ? "en" : "id"); render(); } }, lang() === "id" ? "English" : "Bahasa Indonesia")),
    session ? h("button", { type: "button", onclick: async () => {
      if (pending(state.items).length) return toast(t("sign_out_blocked"));
      // A device id belongs to one facilitator (the server refuses another's use): the next person
      // to sign in on this phone gets a fresh one.
      await setMeta("session", null); await setMeta("worklist", null); await setMeta("device_id", null); changed();
    } }, t("sign_out")) : null,
  ];
}

// ---------- routing ----------
async function render() {
  const state = await load();
  state.deviceId = await deviceId();
  document.documentElement.lang = lang();
  for (const link of document.querySelectorAll("[data-word]")) link.textContent = t(link.dataset.word);
  await renderSyncLine(state);
  const banner = document.getElementById("session-banner");
  const expired = state.session && Date.parse(state.session.expires_at) < now();
  banner.hidden = !!state.session && !expired;
  banner.textContent = !state.session ? t("sign_in_needed") : expired ? t("signed_out_expired") : "";
  const route = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (route[0] !== "ketua") delete document.body.dataset.mode;
  let content;
  switch (route[0]) {
    case "catat": content = renderMeetingForm(state, route[1]); break;
    case "perbaiki": content = renderMeetingForm(state, (await getItem(route[1]))?.group_id, await getItem(route[1])); break;
    case "antrian": content = renderQueue(state); break;
    case "daftar-hadir": content = renderSheet(state, await getItem(route[1])); break;
    case "rencana": content = renderPlan(state, route[1]); break;
    case "nilai": content = renderRateGroup(state, route[1]); break;
    case "ketua": content = renderChair(state, route[1]); break;
    case "akun": content = renderAccount(state); break;
    default: content = renderToday(state);
  }
  main().replaceChildren(...content);
  if (main().dataset.route !== location.hash) scrollTo(0, 0);
  main().dataset.route = location.hash;
  main().dataset.screen = route[0] || "hari-ini";
  for (const link of document.querySelectorAll("nav a")) link.setAttribute("aria-current", link.getAttribute("href") === `#/${route[0] || "hari-ini"}` ? "page" : "false");
  markReady();
  document.body.dataset.signedIn = state.session ? "1" : "0";
  if (state.session && !document.body.dataset.signedInAt) document.body.dataset.signedInAt = String(Math.round(performance.now()));
}

// When the first screen was drawn, in ms since navigation start (read by the budget benchmark).
function markReady() {
  if (document.body.dataset.ready) return;
  document.body.dataset.ready = "1";
  document.body.dataset.readyAt = String(Math.round(performance.now()));
}

// Re-render this tab and tell the others; forms being filled are left alone.
async function changed() {
  channel?.postMessage("changed");
  await refresh();
}
async function refresh() {
  const screen = main().dataset.screen;
  if (["catat", "perbaiki", "ketua", "nilai", "rencana"].includes(screen)) await renderSyncLine({ ...(await load()) });
  else await render();
}
channel?.addEventListener("message", () => refresh());

let syncing = null;
function triggerSync() {
  syncing = sync({ clock: now, onChange: refresh }).then((outcome) => {
    document.body.dataset.lastSync = outcome;
    return outcome;
  });
  return syncing;
}
window.pantauSync = () => triggerSync();

async function enrol() {
  const match = /^#masuk=(.+)$/.exec(location.hash);
  if (!match) return;
  main().replaceChildren(h("p", {}, t("enrolling")));
  try {
    const response = await fetch("/api/v1/enrolments/exchange", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ code: match[1] }),
    });
    if (!response.ok) { toast(t("enrol_failed")); history.replaceState(null, "", "#/akun"); return; }
    const session = await response.json();
    const previous = await getMeta("session");
    if (previous && previous.facilitator_id !== session.facilitator_id) await setMeta("device_id", null);
    await setMeta("session", session);
    history.replaceState(null, "", "#/hari-ini");
  } catch {
    toast(t("offline"));
  }
}

async function askPersistence() {
  if (!navigator.storage?.persist) return;
  const already = await navigator.storage.persisted();
  await setMeta("persisted", already || (await navigator.storage.persist()));
}

function watchForUpdates() {
  if (!("serviceWorker" in navigator)) return;
  let switching = false;
  navigator.serviceWorker.register("./sw.js", { scope: "./" }).then((registration) => {
    const offer = (worker) => {
      const box = document.getElementById("update");
      box.hidden = false;
      box.replaceChildren(h("span", {}, t("new_version")), h("button", { type: "button", "data-testid": "reload", onclick: () => { switching = true; worker.postMessage("skip-waiting"); } }, t("reload")));
    };
    if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      worker?.addEventListener("statechange", () => {
        if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
      });
    });
    setInterval(() => registration.update().catch(() => {}), SYNC_EVERY_MS);
  });
  // Reload only when the user chose the new version; the first install's claim needs no reload.
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!switching) return;
    switching = false;
    location.reload();
  });
}

async function start() {
  // Draw first, then talk to the network: on a slow link the screen must not wait for a round trip.
  const enrolling = /^#masuk=/.test(location.hash);
  if (!enrolling) await render();
  else markReady();
  await enrol();
  if (enrolling) await render();
  askPersistence().then(refresh);
  addEventListener("hashchange", render);
  addEventListener("online", () => triggerSync());
  addEventListener("offline", () => refresh());
  setInterval(() => triggerSync(), SYNC_EVERY_MS);
  setInterval(async () => renderSyncLine(await load()), 30000); // the oldest item's age moves on
  watchForUpdates();
  triggerSync();
}

start();
