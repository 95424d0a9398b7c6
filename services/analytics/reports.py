"""Reports built from the aggregates (pure): compliance per region and a facilitator's monthly report,
as JSON-ready dicts, CSV and a printable HTML page, so nobody re-types what Pantau already knows."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any, Literal

from services.analytics import words
from services.analytics.aggregates import Compliance, GroupFacts, Rollup, compliance_series, schedule_outcome
from services.analytics.directory import Directory

Level = Literal["province", "kabupaten", "facilitator"]

COMPLIANCE_COLUMNS = (
    "period",
    "programme",
    "programme_name",
    "level",
    "region_code",
    "region_name",
    "groups_scheduled",
    "groups_due",
    "groups_met_on_schedule",
    "groups_met_late",
    "groups_not_met",
    "groups_open",
    "groups_open_met",
    "compliance_ratio",
    "groups_synced_past_due",
    "data_freshness_ratio",
)


def _in_region(code: str, region: str | None) -> bool:
    return not region or code == region or code.startswith(region + ".")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def compliance_row(counts: Compliance) -> dict[str, Any]:
    """The numbers of one row: due time passed (met on schedule, late, not met), still open, freshness."""
    return {
        "groups_scheduled": counts.due + counts.open,
        "groups_due": counts.due,
        "groups_met_on_schedule": counts.on_schedule,
        "groups_met_late": counts.late,
        "groups_not_met": counts.not_met,
        "groups_open": counts.open,
        "groups_open_met": counts.open_met,
        "compliance_ratio": _round(counts.ratio),
        "groups_synced_past_due": counts.synced,
        "data_freshness_ratio": _round(counts.freshness),
    }


def compliance_report(
    rollup: Rollup,
    *,
    period: str,
    level: Level,
    now: datetime,
    region: str | None = None,
    programme: str | None = None,
    directory: Directory | None = None,
) -> dict[str, Any]:
    """Compliance per programme and region for one period, as of `now`.

    Of the groups whose due time has passed: met on schedule, met late, not met; groups whose due
    time is still ahead are counted apart (`groups_open`) and never as failures; data freshness is the
    share of the groups due whose facilitator's devices synced past the due time. `level=province`
    gives one row per programme and province, `level=kabupaten` one per programme and kabupaten.
    `region` narrows to a province or kabupaten code (and everything inside it).
    """
    directory = directory or Directory()
    rows: list[dict[str, Any]] = []
    for (row_programme, province, kabupaten, row_period), counts in compliance_series(rollup, now).items():
        if row_period != period or (programme and row_programme != programme):
            continue
        if (level == "province") != (kabupaten == ""):
            continue
        code = province if level == "province" else kabupaten
        if not _in_region(code, region):
            continue
        rows.append(
            {
                "period": period,
                "programme": row_programme,
                "programme_name": words.programme(row_programme),
                "level": level,
                "region_code": code,
                "region_name": directory.region(code),
                **compliance_row(counts),
            }
        )
    rows.sort(key=lambda row: (row["programme"], row["region_code"]))
    total = Compliance()
    for row in rows:
        total.add(_counts_of(row))
    return {
        "period": period,
        "level": level,
        "region": region,
        "region_name": directory.region(region) if region else None,
        "programme": programme,
        "as_of": now.isoformat().replace("+00:00", "Z"),
        "rows": rows,
        "total": compliance_row(total),
    }


def _counts_of(row: dict[str, Any]) -> Compliance:
    return Compliance(
        due=row["groups_due"],
        on_schedule=row["groups_met_on_schedule"],
        late=row["groups_met_late"],
        synced=row["groups_synced_past_due"],
        open=row["groups_open"],
        open_met=row["groups_open_met"],
    )


def compliance_csv(report: dict[str, Any]) -> str:
    """The report's rows as CSV (header first, one row per programme and region)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COMPLIANCE_COLUMNS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def compliance_html(report: dict[str, Any], *, language: words.Language = "id") -> str:
    """The compliance report as one printable page (A4), Bahasa Indonesia first."""
    en = language == "en"
    period = words.period_label(report["period"], language)
    where = report.get("region_name") or ("Indonesia" if not report.get("region") else report["region"])
    level_word = {"province": ("Provinsi", "Province"), "kabupaten": ("Kabupaten/Kota", "Regency/city")}
    title = (
        f"Kepatuhan jadwal pertemuan — {where}, {period}"
        if not en
        else f"Meeting schedule compliance — {where}, {period}"
    )
    total = report["total"]
    as_of = words.local_datetime(report["as_of"], "Asia/Jakarta", language)
    if total["groups_due"]:
        lead = (
            f"Dari {total['groups_due']} kelompok yang batas waktunya sudah lewat, {total['groups_met_on_schedule']} "
            f"bertemu tepat waktu ({words.percent(total['compliance_ratio'])}), {total['groups_met_late']} bertemu "
            f"terlambat dan {total['groups_not_met']} belum bertemu."
            if not en
            else f"Of {total['groups_due']} groups whose due time has passed, {total['groups_met_on_schedule']} met on "
            f"schedule ({words.percent(total['compliance_ratio'])}), {total['groups_met_late']} met late and "
            f"{total['groups_not_met']} have not met."
        )
    else:
        lead = (
            "Belum ada kelompok yang batas waktu pertemuannya lewat pada periode ini: "
            "belum ada yang bisa disebut terlambat."
            if not en
            else "No group's due time has passed in this period yet: nobody can be late so far."
        )
    if total["groups_open"]:
        lead += (
            f" {total['groups_open']} kelompok masih dalam jadwal (batas waktunya belum tiba), "
            f"{total['groups_open_met']} di antaranya sudah bertemu."
            if not en
            else f" {total['groups_open']} groups are still within their schedule (due time ahead), "
            f"{total['groups_open_met']} of them have already met."
        )
    if total["groups_due"]:
        lead += (
            f" Kesegaran data: {words.percent(total['data_freshness_ratio'])} kelompok yang jatuh tempo punya "
            "pendamping yang ponselnya sudah tersinkron melewati batas waktu."
            if not en
            else f" Data freshness: for {words.percent(total['data_freshness_ratio'])} of the groups due, the "
            "facilitator's phone has synced past the due time."
        )
    headers = (
        [
            "Program",
            level_word.get(report["level"], ("Wilayah", "Region"))[0],
            "Jatuh tempo",
            "Tepat waktu",
            "Terlambat",
            "Belum bertemu",
            "Kepatuhan",
            "Masih berjalan",
            "Kesegaran data",
        ]
        if not en
        else [
            "Programme",
            level_word.get(report["level"], ("Wilayah", "Region"))[1],
            "Due",
            "On schedule",
            "Late",
            "Not met",
            "Compliance",
            "Still open",
            "Data freshness",
        ]
    )
    body = []
    for row in report["rows"]:
        body.append(
            [
                escape(words.programme(row["programme"], language)),
                f"{escape(row['region_name'])} <span class='code'>{escape(row['region_code'])}</span>",
                row["groups_due"],
                row["groups_met_on_schedule"],
                row["groups_met_late"],
                row["groups_not_met"],
                words.percent(row["compliance_ratio"]),
                f"{row['groups_open']} ({row['groups_open_met']} {'sudah bertemu' if not en else 'already met'})"
                if row["groups_open"]
                else "0",
                words.percent(row["data_freshness_ratio"]),
            ]
        )
    table = _html_table(headers, body, numeric_from=2)
    if not body:
        table = (
            "<p class='empty'>Tidak ada kelompok yang dijadwalkan pada periode ini.</p>"
            if not en
            else "<p class='empty'>No group was scheduled in this period.</p>"
        )
    note = (
        "Tepat waktu: pertemuan pertama periode ini dimulai paling lambat pada batas waktunya. Terlambat: pertemuan "
        "diadakan dalam periode ini setelah batas waktu. Masih berjalan: batas waktunya belum tiba, tidak dihitung "
        "sebagai kegagalan. Kepatuhan = tepat waktu ÷ jatuh tempo."
        if not en
        else "On schedule: the period's first meeting started no later than its due time. Late: held within the "
        "period after the due time. Still open: due time ahead, never counted as a failure. Compliance = on "
        "schedule ÷ due."
    )
    return _page(
        title,
        [
            f"<h1>{escape(title)}</h1>",
            f"<p class='meta'>{'Keadaan per' if not en else 'As of'} {escape(as_of)}</p>",
            f"<p class='lead'>{escape(lead)}</p>",
            table,
            f"<p class='note'>{escape(note)}</p>",
        ],
        language=language,
    )


def _html_table(headers: list[str], rows: list[list[Any]], *, numeric_from: int = 99) -> str:
    """Cells are already escaped HTML (or numbers)."""
    head = "".join(
        f"<th class='num'>{escape(h)}</th>" if i >= numeric_from else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{value}</td>" if i >= numeric_from else f"<td>{value}</td>" for i, value in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_STYLE = """
@page { size: A4; margin: 16mm 14mm; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 2em auto; max-width: 60em;
       color: #1a1a1a; font-size: 10.5pt; line-height: 1.4; }
h1 { font-size: 16pt; margin: 0 0 .2em; } h2 { font-size: 12.5pt; margin: 1.4em 0 .4em; border-bottom: 1px solid #888; }
h3 { font-size: 11pt; margin: 1em 0 .3em; }
.meta { color: #555; margin: 0 0 1em; } .lead { font-size: 11pt; } .note { color: #555; font-size: 9pt; }
.code { color: #777; font-size: 85%; } .empty { font-style: italic; color: #555; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: .25em .45em; text-align: left; vertical-align: top; }
th { background: #eef1f4; } .num { text-align: right; white-space: nowrap; }
.summary { border: 1px solid #999; padding: .6em .9em; background: #f7f8fa; }
.summary ul { margin: .3em 0 0 1.1em; padding: 0; }
.sign { margin-top: 2.5em; display: flex; gap: 4em; }
.sign div { flex: 1; border-top: 1px solid #555; padding-top: .3em; }
.good { color: #1d6b2f; } .bad { color: #a32020; } .open { color: #7a5a00; }
@media print { body { margin: 0; max-width: none; } h2, h3 { break-after: avoid; } tr { break-inside: avoid; } }
"""


def _page(title: str, parts: list[str], *, language: words.Language) -> str:
    return "\n".join(
        [
            f"<!doctype html><html lang='{language}'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
            *parts,
            "</body></html>",
        ]
    )


def facilitator_report(facilitator_id: str, period: str, groups: Iterable[tuple[str, GroupFacts]]) -> dict[str, Any]:
    """A facilitator's month: per group the meetings (and modules), attendance, whether the group met
    on schedule, the deviations and how each was resolved, and evaluations both ways."""
    group_rows: list[dict[str, Any]] = []
    modules: Counter[str] = Counter()
    for group_id, facts in sorted(groups, key=lambda item: item[0]):
        month = facts.periods.get(period)
        if month is None or (month.facilitator_id and month.facilitator_id != facilitator_id):
            continue
        group_modules = Counter(entry.module or "(tanpa modul / no module)" for entry in month.meetings)
        modules.update(group_modules)
        group_rows.append(
            {
                "group_id": group_id,
                "programme": month.programme or facts.programme,
                "region_code": month.kabupaten or facts.kabupaten,
                "due_at": month.due_at,
                "met_on_schedule": outcome.on_schedule if (outcome := schedule_outcome(facts, period)) else None,
                "meetings": [
                    {
                        **entry.model_dump(),
                        "attendance_ratio": round(entry.present / entry.members, 4) if entry.members else None,
                    }
                    for entry in sorted(month.meetings, key=lambda entry: entry.started_at)
                ],
                "meetings_per_module": dict(sorted(group_modules.items())),
                "attendance": {
                    "present": month.present,
                    "members": month.members,
                    "ratio": round(month.present / month.members, 4) if month.members else None,
                },
                "deviations": [
                    {**entry.model_dump(), "status": "resolved" if entry.resolved_at else "open"}
                    for entry in sorted(month.deviations, key=lambda entry: entry.detected_at)
                ],
                "evaluations": [entry.model_dump() for entry in month.evaluations],
            }
        )
    present = sum(row["attendance"]["present"] for row in group_rows)
    members = sum(row["attendance"]["members"] for row in group_rows)
    due = [row for row in group_rows if row["due_at"]]
    return {
        "facilitator_id": facilitator_id,
        "period": period,
        "groups": group_rows,
        "summary": {
            "groups": len(group_rows),
            "meetings": sum(len(row["meetings"]) for row in group_rows),
            "meetings_per_module": dict(sorted(modules.items())),
            "attendance_ratio": round(present / members, 4) if members else None,
            "groups_due": len(due),
            "groups_met_on_schedule": sum(1 for row in due if row["met_on_schedule"]),
            "deviations_opened": sum(len(row["deviations"]) for row in group_rows),
            "deviations_resolved": sum(1 for row in group_rows for d in row["deviations"] if d["resolved_at"]),
            "evaluations": sum(len(row["evaluations"]) for row in group_rows),
        },
    }


_DIRECTIONS = {
    "facilitator_rates_group": "Pendamping menilai kelompok / facilitator rates group",
    "group_rates_facilitator": "Kelompok menilai pendamping / group rates facilitator",
    "supervisor_rates_facilitator": "Koordinator menilai pendamping / supervisor rates facilitator",
}

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #eee; } .num { text-align: right; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } table { page-break-inside: avoid; } }
"""


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "ya / yes" if value else "tidak / no"
    if isinstance(value, float):
        return f"{value:.0%}" if value <= 1 else f"{value:.2f}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def facilitator_report_html(report: dict[str, Any]) -> str:
    """The monthly report as one printable HTML page (Bahasa Indonesia with English)."""
    summary = report["summary"]
    parts = [
        "<!doctype html><html lang='id'><head><meta charset='utf-8'>",
        f"<title>Laporan bulanan {escape(report['facilitator_id'])} {escape(report['period'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Laporan Bulanan Pendampingan / Facilitator's monthly report</h1>",
        _table(
            ["Pendamping / Facilitator", "Periode / Period", "Kelompok / Groups", "Pertemuan / Meetings"],
            [[report["facilitator_id"], report["period"], summary["groups"], summary["meetings"]]],
        ),
        _table(
            [
                "Kehadiran / Attendance",
                "Tepat jadwal / On schedule",
                "Penyimpangan / Deviations",
                "Selesai / Resolved",
                "Evaluasi / Evaluations",
            ],
            [
                [
                    summary["attendance_ratio"],
                    f"{summary['groups_met_on_schedule']} / {summary['groups_due']}",
                    summary["deviations_opened"],
                    summary["deviations_resolved"],
                    summary["evaluations"],
                ]
            ],
        ),
    ]
    for group in report["groups"]:
        parts.append(f"<h2>Kelompok / Group {escape(group['group_id'])} ({escape(group['programme'])})</h2>")
        parts.append(
            _table(
                ["Jatuh tempo / Due", "Tepat jadwal / On schedule", "Hadir / Present", "Anggota / Members"],
                [
                    [
                        group["due_at"],
                        group["met_on_schedule"],
                        group["attendance"]["present"],
                        group["attendance"]["members"],
                    ]
                ],
            )
        )
        parts.append(
            _table(
                ["Mulai / Started", "Modul / Module", "Topik / Topic", "Dipimpin / Led by", "Hadir / Attendance"],
                [
                    [m["started_at"], m["module"], m["topic"], m["led_by"], f"{m['present']} / {m['members']}"]
                    for m in group["meetings"]
                ],
            )
        )
        if group["deviations"]:
            parts.append(
                _table(
                    ["Aturan / Rule", "Tingkat / Severity", "Terdeteksi / Detected", "Selesai / Resolved", "Cara"],
                    [
                        [d["rule"], d["severity"], d["detected_at"], d["resolved_at"], d["resolution"] or "terbuka"]
                        for d in group["deviations"]
                    ],
                )
            )
        if group["evaluations"]:
            parts.append(
                _table(
                    ["Arah / Direction", "Periode / Period", "Rata-rata / Mean", "Nilai / Scores"],
                    [
                        [
                            _DIRECTIONS.get(e["direction"], e["direction"]),
                            e["period"],
                            f"{e['mean_score']:.2f}",
                            ", ".join(f"{k}: {v}" for k, v in sorted(e["scores"].items())),
                        ]
                        for e in group["evaluations"]
                    ],
                )
            )
    parts.append("</body></html>")
    return "\n".join(parts)
