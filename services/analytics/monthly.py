"""The facilitator's monthly report (pure): what a facilitator would sign and a supervisor read in a
minute — a short summary on top, then per group whether a meeting was due this month and how it went,
the meetings with their attendance, the plan's progress against its indicators, evaluations both ways
and the deviations with how each ended. Names, local times and sentences, never ids, enums or UTC.

`facilitator_report` builds a JSON-ready document (every value both raw and in words);
`facilitator_report_html` prints it on A4 (the PDF is this page printed by Chromium, see `pdf.py`).
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from html import escape
from typing import Any

from services.analytics import words
from services.analytics.aggregates import GroupFacts, PeriodFacts, schedule_outcome
from services.analytics.directory import Directory
from services.analytics.reports import html_table, page
from services.analytics.words import Language, pick
from shared import regions


def _t(language: Language, bahasa: str, english: str) -> str:
    return bahasa if language == "id" else english


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _scheduled_period(facts: GroupFacts, month: str) -> tuple[str, PeriodFacts] | None:
    """The scheduled period whose months include `month` (a monthly group's own month; a quarter)."""
    for label, facts_of in sorted(facts.periods.items()):
        if facts_of.due_at is not None and month in (facts_of.window or [label]):
            return label, facts_of
    return None


def _schedule(
    facts: GroupFacts, month: str, *, now: datetime, time_zone: str, cadence: str | None, language: Language
) -> dict[str, Any]:
    """Whether a meeting was due this month and how it went, as a state and a sentence."""
    found = _scheduled_period(facts, month)
    if found is None:
        sentence = _t(
            language,
            "Tidak ada pertemuan yang jatuh tempo bulan ini.",
            "No meeting was due this month.",
        )
        if cadence == "quarterly":
            sentence = _t(
                language,
                "Tidak ada pertemuan yang jatuh tempo bulan ini (program triwulanan).",
                "No meeting was due this month (a quarterly programme).",
            )
        return {"state": "not_due", "due_at": None, "sentence": sentence}
    label, period_facts = found
    outcome = schedule_outcome(facts, label)
    assert outcome is not None  # found only with a due time
    due_text = words.local_datetime(outcome.due_at, time_zone, language)
    met_text = words.local_datetime(outcome.first_started_at, time_zone, language) if outcome.first_started_at else ""
    due_month = (period_facts.window or [label])[-1]
    if due_month != month:
        sentence = _t(
            language,
            f"Tidak ada pertemuan yang jatuh tempo bulan ini: pertemuan triwulan ini jatuh tempo {due_text}.",
            f"No meeting was due this month: this quarter's meeting is due {due_text}.",
        )
        if met_text:
            sentence += _t(
                language, f" Kelompok sudah bertemu pada {met_text}.", f" The group already met on {met_text}."
            )
        return {"state": "not_due", "due_at": period_facts.due_at, "sentence": sentence}
    if outcome.due_at > now:
        state = "open_met" if outcome.on_schedule else "open"
        sentence = _t(
            language,
            f"Batas waktu pertemuan ({due_text}) belum tiba.",
            f"The meeting's due time ({due_text}) has not come yet.",
        )
        if met_text:
            sentence += _t(
                language, f" Kelompok sudah bertemu pada {met_text}.", f" The group already met on {met_text}."
            )
    elif outcome.on_schedule:
        state = "on_schedule"
        sentence = _t(
            language,
            f"Bertemu tepat waktu pada {met_text} (batas waktu {due_text}).",
            f"Met on schedule on {met_text} (due {due_text}).",
        )
    elif outcome.late:
        state = "late"
        sentence = _t(
            language,
            f"Bertemu terlambat pada {met_text}; batas waktunya {due_text}.",
            f"Met late, on {met_text}; it was due {due_text}.",
        )
    else:
        state = "not_met"
        sentence = _t(
            language,
            f"Belum ada laporan pertemuan sampai batas waktu {due_text}.",
            f"No meeting has been reported by the due time, {due_text}.",
        )
        if not outcome.synced_past_due:
            sentence += _t(
                language,
                " Ponsel pendamping belum tersinkron melewati batas waktu itu, "
                "jadi laporannya mungkin masih di ponsel.",
                " The facilitator's phone has not synced past that time, so the report may still be on the phone.",
            )
    return {"state": state, "due_at": period_facts.due_at, "sentence": sentence}


def _meeting(entry: Any, time_zone: str, language: Language) -> dict[str, Any]:
    started, ended = _instant(entry.started_at), _instant(entry.ended_at)
    ratio = entry.present / entry.members if entry.members else None
    minutes = (ended - started).total_seconds() / 60
    what = ": ".join(part for part in (entry.module, entry.topic) if part) or _t(language, "tanpa modul", "no module")
    attendance = _t(
        language,
        f"hadir {entry.present} dari {entry.members} anggota ({words.percent(ratio)})",
        f"{entry.present} of {entry.members} members present ({words.percent(ratio)})",
    )
    return {
        **entry.model_dump(),
        "attendance_ratio": round(ratio, 4) if ratio is not None else None,
        "started_at_text": words.local_datetime(started, time_zone, language),
        "duration_text": words.duration(minutes, language),
        "led_by_text": words.lookup(words.LED_BY, entry.led_by, language),
        "what": what,
        "attendance_text": attendance,
    }


def _activity(entry: Any, month_end: date, language: Language) -> dict[str, Any]:
    due_on = date.fromisoformat(entry.due_on)
    status = words.lookup(words.ACTIVITY_STATUS, entry.status, language)
    overdue = entry.status != "done" and due_on <= month_end
    month_start = month_end.replace(day=1)
    # What the month's page lists in full: due this month, overdue, or under way; the rest is one line.
    this_month = month_start <= due_on <= month_end or overdue or entry.status in ("in_progress", "blocked")
    progress = None
    indicator = ""
    if entry.indicator_name and entry.target is not None:
        unit = f" {entry.indicator_unit}" if entry.indicator_unit else ""
        value = entry.value if entry.value is not None else entry.baseline
        if value is not None and entry.baseline is not None and entry.target != entry.baseline:
            progress = max(0.0, min(1.0, (value - entry.baseline) / (entry.target - entry.baseline)))
        shown = words.number(value, language) if value is not None else "—"
        indicator = _t(
            language,
            f"{entry.indicator_name}: {shown}{unit} dari target {words.number(entry.target, language)}{unit}"
            + (f" (awal {words.number(entry.baseline, language)})" if entry.baseline is not None else ""),
            f"{entry.indicator_name}: {shown}{unit} of a target of {words.number(entry.target, language)}{unit}"
            + (f" (baseline {words.number(entry.baseline, language)})" if entry.baseline is not None else ""),
        )
    return {
        **entry.model_dump(),
        "stage_text": words.lookup(words.STAGES, entry.stage, language),
        "due_on_text": words.local_date(due_on, language=language),
        "status_text": status,
        "overdue": overdue,
        "this_month": this_month,
        "indicator_text": indicator,
        "progress_ratio": round(progress, 4) if progress is not None else None,
        "reported_on_text": words.local_date(entry.reported_on, language=language) if entry.reported_on else "",
    }


def _deviation(entry: Any, time_zone: str, language: Language) -> dict[str, Any]:
    what = words.lookup(words.RULES, entry.rule, language)
    details = entry.details
    if details.get("activity_title"):
        what += f" ({details['activity_title']})"
    elif details.get("meeting_started_at"):
        what += _t(
            language,
            f" (pertemuan {words.local_datetime(str(details['meeting_started_at']), time_zone, language)})",
            f" (meeting of {words.local_datetime(str(details['meeting_started_at']), time_zone, language)})",
        )
    elif isinstance(details.get("mean_score"), int | float):
        what += _t(
            language,
            f" (rata-rata {words.number(float(details['mean_score']), language)} dari 5)",
            f" (mean {words.number(float(details['mean_score']), language)} of 5)",
        )
    elif entry.rule == "meeting.overdue" and entry.occurrence:
        what += f" ({words.period_label(entry.occurrence, language)})"
    detected = words.local_datetime(entry.detected_at, time_zone, language)
    if entry.resolved_at:
        outcome = _t(
            language,
            f"Selesai {words.local_datetime(entry.resolved_at, time_zone, language)}: "
            f"{words.lookup(words.RESOLUTIONS, entry.resolution, language)}.",
            f"Resolved {words.local_datetime(entry.resolved_at, time_zone, language)}: "
            f"{words.lookup(words.RESOLUTIONS, entry.resolution, language)}.",
        )
    else:
        outcome = _t(language, "Masih terbuka.", "Still open.")
    if entry.escalated_at:
        outcome = (
            _t(
                language,
                f"Dinaikkan menjadi {words.lookup(words.SEVERITIES, entry.severity, language)} pada "
                f"{words.local_datetime(entry.escalated_at, time_zone, language)}. ",
                f"Raised to {words.lookup(words.SEVERITIES, entry.severity, language)} on "
                f"{words.local_datetime(entry.escalated_at, time_zone, language)}. ",
            )
            + outcome
        )
    return {
        **entry.model_dump(),
        "status": "resolved" if entry.resolved_at else "open",
        # Listed one by one: still open, escalated, or about meetings and evaluations; resolved plan
        # deviations (many, and mostly settled by the progress that followed) are counted per rule.
        "in_full": not entry.resolved_at or bool(entry.escalated_at) or not entry.rule.startswith("plan."),
        "rule_only_text": words.lookup(words.RULES, entry.rule, language),
        "resolution_text": words.lookup(words.RESOLUTIONS, entry.resolution, language) if entry.resolution else "",
        "rule_text": what,
        "severity_text": words.lookup(words.SEVERITIES, entry.severity, language),
        "detected_at_text": detected,
        "outcome_text": outcome,
    }


def _evaluation(entry: Any, language: Language) -> dict[str, Any]:
    scores = ", ".join(f"{words.spelled(name)} {score}" for name, score in sorted(entry.scores.items()))
    return {
        **entry.model_dump(),
        "direction_text": words.lookup(words.DIRECTIONS, entry.direction, language),
        "mean_text": _t(
            language,
            f"rata-rata {words.number(entry.mean_score, language)} dari 5",
            f"mean {words.number(entry.mean_score, language)} of 5",
        ),
        "scores_text": scores,
    }


def _month_end(period: str) -> date:
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, calendar.monthrange(year, month)[1])


def facilitator_report(
    facilitator_id: str,
    period: str,
    groups: Iterable[tuple[str, GroupFacts]],
    *,
    now: datetime,
    directory: Directory | None = None,
    language: Language = "id",
) -> dict[str, Any]:
    """A facilitator's month, per group and summed, with every value also in words."""
    directory = directory or Directory()
    group_rows: list[dict[str, Any]] = []
    modules: Counter[str] = Counter()
    month_end = _month_end(period)
    for group_id, facts in sorted(groups, key=lambda item: directory.group(item[0])):
        month = facts.periods.get(period)
        if month is not None and month.facilitator_id and month.facilitator_id != facilitator_id:
            continue  # the group had another facilitator that month
        if month is None and facts.facilitator_id != facilitator_id:
            continue
        month = month or PeriodFacts()
        place = month.kabupaten or facts.kabupaten or facts.province
        time_zone = regions.time_zone_of(place) if place else "Asia/Jakarta"
        cadence = directory.cadence(group_id) or (
            "quarterly" if any(len(p.window) == 3 for p in facts.periods.values()) else None
        )
        meetings = [
            _meeting(entry, time_zone, language) for entry in sorted(month.meetings, key=lambda e: e.started_at)
        ]
        group_modules = Counter(entry.module or _t(language, "tanpa modul", "no module") for entry in month.meetings)
        modules.update(group_modules)
        activities = sorted(facts.activities.values(), key=lambda entry: (entry.due_on, entry.title))
        programme = month.programme or facts.programme
        group_rows.append(
            {
                "group_id": group_id,
                "group_name": directory.group(group_id),
                "programme": programme,
                "programme_name": words.programme(programme, language),
                "region_code": place,
                "region_name": directory.region(place),
                "province_name": directory.region(regions.province_of(place)) if place else "",
                "time_zone": time_zone,
                "cadence": cadence,
                "schedule": _schedule(facts, period, now=now, time_zone=time_zone, cadence=cadence, language=language),
                "meetings": meetings,
                "meetings_per_module": dict(sorted(group_modules.items())),
                "attendance": {
                    "present": month.present,
                    "members": month.members,
                    "ratio": round(month.present / month.members, 4) if month.members else None,
                },
                "activities": [_activity(entry, month_end, language) for entry in activities],
                "deviations": [
                    _deviation(entry, time_zone, language)
                    for entry in sorted(month.deviations, key=lambda entry: entry.detected_at)
                ],
                "evaluations": [_evaluation(entry, language) for entry in month.evaluations],
            }
        )
    summary = _summary(facilitator_id, period, group_rows, modules, directory=directory, language=language)
    return {
        "facilitator_id": facilitator_id,
        "facilitator_name": directory.facilitator(facilitator_id),
        "period": period,
        "period_text": words.period_label(period, language),
        "as_of": now.isoformat().replace("+00:00", "Z"),
        "language": language,
        "groups": group_rows,
        "summary": summary,
    }


def _summary(
    facilitator_id: str,
    period: str,
    rows: list[dict[str, Any]],
    modules: Counter[str],
    *,
    directory: Directory,
    language: Language,
) -> dict[str, Any]:
    states = Counter(row["schedule"]["state"] for row in rows)
    due = states["on_schedule"] + states["late"] + states["not_met"]
    present = sum(row["attendance"]["present"] for row in rows)
    members = sum(row["attendance"]["members"] for row in rows)
    attendance = present / members if members else None
    meetings = sum(len(row["meetings"]) for row in rows)
    deviations = [d for row in rows for d in row["deviations"]]
    resolved = sum(1 for d in deviations if d["resolved_at"])
    evaluations = [e for row in rows for e in row["evaluations"]]
    activities = [a for row in rows for a in row["activities"]]
    name = directory.facilitator(facilitator_id)
    month = words.period_label(period, language)
    programmes = sorted({row["programme_name"] for row in rows if row["programme_name"]})
    sentences = [
        _t(
            language,
            f"{name} mendampingi {len(rows)} kelompok pada {month}"
            + (f" ({', '.join(programmes)})." if programmes else "."),
            f"{name} accompanied {len(rows)} groups in {month}"
            + (f" ({', '.join(programmes)})." if programmes else "."),
        )
    ]
    if due:
        outcomes = [
            (states["on_schedule"], ("bertemu tepat waktu", "met on schedule")),
            (states["late"], ("terlambat", "met late")),
            (states["not_met"], ("belum bertemu", "have not met")),
        ]
        said = words.joined([f"{count} {pick(pair, language)}" for count, pair in outcomes if count], language)
        sentences.append(
            _t(
                language,
                f"Dari {due} kelompok yang pertemuannya sudah jatuh tempo, {said}.",
                f"Of {due} groups whose meeting was due, {said}.",
            )
        )
    attention = [
        row["group_name"] + " (" + words.lookup(_ATTENTION, row["schedule"]["state"], language) + ")"
        for row in rows
        if row["schedule"]["state"] in _ATTENTION
    ]
    if attention:
        sentences.append(
            _t(language, "Perlu perhatian: ", "Needs attention: ") + words.joined(attention, language) + "."
        )
    open_ = states["open"] + states["open_met"]
    if open_:
        sentences.append(
            _t(
                language,
                f"{open_} kelompok belum sampai batas waktunya ({states['open_met']} sudah bertemu).",
                f"{open_} groups have not reached their due time yet ({states['open_met']} already met).",
            )
        )
    if states["not_due"]:
        sentences.append(
            _t(
                language,
                f"Bagi {states['not_due']} kelompok tidak ada pertemuan yang jatuh tempo bulan ini.",
                f"For {states['not_due']} groups no meeting was due this month.",
            )
        )
    sentences.append(
        _t(
            language,
            f"Tercatat {meetings} pertemuan" + (f" dengan kehadiran {words.percent(attendance)}." if meetings else "."),
            f"{meetings} meetings were recorded"
            + (f", with {words.percent(attendance)} of members present." if meetings else "."),
        )
    )
    if activities:
        done = sum(1 for a in activities if a["status"] == "done")
        late = sum(1 for a in activities if a["overdue"])
        sentences.append(
            _t(
                language,
                f"Rencana pendampingan: {len(activities)} kegiatan, {done} selesai"
                + (f", {late} melewati tenggat." if late else "."),
                f"Plans: {len(activities)} activities, {done} done"
                + (f", {late} past their due date." if late else "."),
            )
        )
    if deviations:
        rules = Counter(d["rule"] for d in deviations).most_common(1)[0][0]
        sentences.append(
            _t(
                language,
                f"{len(deviations)} penyimpangan terdeteksi bulan ini: {resolved} sudah selesai, "
                f"{len(deviations) - resolved} masih terbuka; paling sering: "
                f"{words.lookup(words.RULES, rules, language).lower()}.",
                f"{len(deviations)} deviations were detected this month: {resolved} resolved, "
                f"{len(deviations) - resolved} still open; most often: "
                f"{words.lookup(words.RULES, rules, language).lower()}.",
            )
        )
    else:
        sentences.append(_t(language, "Tidak ada penyimpangan bulan ini.", "No deviations this month."))
    by_direction: dict[str, list[float]] = {}
    for evaluation in evaluations:
        by_direction.setdefault(evaluation["direction"], []).append(evaluation["mean_score"])
    if by_direction:
        parts = [
            f"{pick(words.DIRECTIONS[d], language).lower() if d in words.DIRECTIONS else words.spelled(d)} "
            + _t(language, "rata-rata ", "mean ")
            + words.number(round(sum(v) / len(v), 1), language)
            for d, v in sorted(by_direction.items())
        ]
        sentences.append(_t(language, "Evaluasi: ", "Evaluations: ") + "; ".join(parts) + ".")
    return {
        "groups": len(rows),
        "groups_due": due,
        "groups_met_on_schedule": states["on_schedule"],
        "groups_met_late": states["late"],
        "groups_not_met": states["not_met"],
        "groups_open": open_,
        "groups_not_due": states["not_due"],
        "meetings": meetings,
        "meetings_per_module": dict(sorted(modules.items())),
        "attendance_ratio": round(attendance, 4) if attendance is not None else None,
        "activities": len(activities),
        "deviations_opened": len(deviations),
        "deviations_resolved": resolved,
        "evaluations": len(evaluations),
        "sentences": sentences,
    }


def _other_activities(activities: list[dict[str, Any]], language: Language) -> str:
    """One line for the plan's activities not listed: done before this month, or not yet due."""
    done = sum(1 for a in activities if not a["this_month"] and a["status"] == "done")
    later = sum(1 for a in activities if not a["this_month"] and a["status"] != "done")
    parts = []
    if done:
        parts.append(_t(language, f"{done} kegiatan lain sudah selesai", f"{done} other activities are done"))
    if later:
        parts.append(_t(language, f"{later} kegiatan belum jatuh tempo", f"{later} activities are not due yet"))
    if not parts:
        return ""
    return f"<p class='note'>{escape(words.joined(parts, language))}.</p>"


def _settled_lines(deviations: list[dict[str, Any]], language: Language) -> list[str]:
    """Resolved plan deviations, one sentence per rule: how many, and how they ended."""
    by_rule: dict[str, Counter[str]] = {}
    names: dict[str, str] = {}
    for d in deviations:
        if not d["in_full"]:
            by_rule.setdefault(d["rule"], Counter())[d["resolution_text"]] += 1
            names[d["rule"]] = d["rule_only_text"]
    lines = []
    for rule, endings in sorted(by_rule.items()):
        total = sum(endings.values())
        how = words.joined([f"{count}× {ending}" for ending, count in endings.most_common()], language)
        lines.append(
            _t(
                language,
                f"{names[rule]}: {total} kali bulan ini, semuanya sudah selesai ({how}).",
                f"{names[rule]}: {total} times this month, all resolved ({how}).",
            )
        )
    return lines


_ATTENTION = {"not_met": ("belum bertemu", "has not met"), "late": ("bertemu terlambat", "met late")}
_STATE_CLASS = {"on_schedule": "good", "open_met": "good", "late": "open", "not_met": "bad", "open": "", "not_due": ""}


def facilitator_report_html(report: dict[str, Any]) -> str:
    """The monthly report as one printable A4 page, in the report's language."""
    language: Language = report.get("language", "id")
    summary = report["summary"]
    name = report["facilitator_name"]
    title = _t(
        language,
        f"Laporan Bulanan Pendampingan — {name}, {report['period_text']}",
        f"Monthly facilitation report — {name}, {report['period_text']}",
    )
    as_of = words.local_datetime(
        report["as_of"], report["groups"][0]["time_zone"] if report["groups"] else "Asia/Jakarta", language
    )
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='meta'>{escape(_t(language, 'Disusun otomatis oleh Pantau pada', 'Prepared by Pantau on'))} "
        f"{escape(as_of)}</p>",
        "<div class='summary'><strong>"
        + escape(_t(language, "Ringkasan", "Summary"))
        + "</strong><ul>"
        + "".join(f"<li>{escape(sentence)}</li>" for sentence in summary["sentences"])
        + "</ul></div>",
    ]
    if not report["groups"]:
        parts.append(
            "<p class='empty'>"
            + escape(_t(language, "Tidak ada kelompok pada bulan ini.", "No groups this month."))
            + "</p>"
        )
    for group in report["groups"]:
        parts.append(
            f"<h2>{escape(group['group_name'])}</h2><p class='meta'>{escape(group['programme_name'])} · "
            f"{escape(group['region_name'])}, {escape(group['province_name'])}</p>"
        )
        state = group["schedule"]["state"]
        parts.append(
            f"<p class='{_STATE_CLASS.get(state, '')}'><strong>{escape(group['schedule']['sentence'])}</strong></p>"
        )
        if group["meetings"]:
            parts.append(f"<h3>{escape(_t(language, 'Pertemuan', 'Meetings'))}</h3><ul>")
            for m in group["meetings"]:
                parts.append(
                    f"<li>{escape(m['started_at_text'])} — {escape(m['what'])}; {escape(m['led_by_text'])}; "
                    f"{escape(m['duration_text'])}; {escape(m['attendance_text'])}.</li>"
                )
            parts.append("</ul>")
        else:
            parts.append(
                "<p class='empty'>"
                + escape(_t(language, "Tidak ada pertemuan tercatat bulan ini.", "No meetings recorded this month."))
                + "</p>"
            )
        if group["activities"]:
            parts.append(f"<h3>{escape(_t(language, 'Rencana dan realisasi', 'Plan and progress'))}</h3>")
            rows = []
            shown = [a for a in group["activities"] if a["this_month"]]
            for a in shown:
                status = escape(a["status_text"])
                if a["overdue"]:
                    status += f" <span class='bad'>({escape(_t(language, 'lewat tenggat', 'past due'))})</span>"
                rows.append(
                    [
                        f"{escape(a['title'])} <span class='code'>({escape(a['stage_text'])})</span>",
                        escape(a["due_on_text"]),
                        status,
                        escape(a["indicator_text"]) or "—",
                        words.percent(a["progress_ratio"]),
                    ]
                )
            headers = (
                ["Kegiatan", "Tenggat", "Status", "Indikator", "Capaian"]
                if language == "id"
                else ["Activity", "Due", "Status", "Indicator", "Progress"]
            )
            if rows:
                parts.append(html_table(headers, rows, numeric_from=4))
            parts.append(_other_activities(group["activities"], language))
        if group["evaluations"]:
            parts.append(f"<h3>{escape(_t(language, 'Evaluasi', 'Evaluations'))}</h3><ul>")
            for e in group["evaluations"]:
                parts.append(
                    f"<li>{escape(e['direction_text'])}: {escape(e['mean_text'])}"
                    + (f" ({escape(e['scores_text'])})" if e["scores_text"] else "")
                    + ".</li>"
                )
            parts.append("</ul>")
        if group["deviations"]:
            parts.append(
                "<h3>"
                + escape(_t(language, "Penyimpangan dan penyelesaiannya", "Deviations and how they ended"))
                + "</h3><ul>"
            )
            for d in group["deviations"]:
                if d["in_full"]:
                    parts.append(
                        f"<li><strong>{escape(d['rule_text'])}</strong> — "
                        f"{escape(_t(language, 'terdeteksi', 'detected'))} {escape(d['detected_at_text'])} "
                        f"({escape(d['severity_text'])}). {escape(d['outcome_text'])}</li>"
                    )
            parts.extend(f"<li>{escape(line)}</li>" for line in _settled_lines(group["deviations"], language))
            parts.append("</ul>")
    parts.append(
        "<div class='sign'>"
        f"<div><span>{escape(_t(language, 'Pendamping', 'Facilitator'))},</span><p>{escape(name)}</p></div>"
        f"<div><span>{escape(_t(language, 'Mengetahui, koordinator', 'Acknowledged by the supervisor'))},</span>"
        "<p>&nbsp;</p></div>"
        "</div>"
    )
    return page(title, parts, language=language)
