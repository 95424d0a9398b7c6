"""Reports built from the aggregates (pure): compliance per region and a facilitator's monthly report,
as JSON-ready dicts, CSV and a printable HTML page, so nobody re-types what Pantau already knows."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from html import escape
from typing import Any, Literal

from services.analytics.aggregates import GroupFacts, Rollup
from services.analytics.collector import compliance_series

Level = Literal["province", "kabupaten"]

COMPLIANCE_COLUMNS = (
    "period",
    "programme",
    "level",
    "region_code",
    "groups_due",
    "groups_met_on_schedule",
    "compliance_ratio",
)


def _in_region(code: str, region: str | None) -> bool:
    return not region or code == region or code.startswith(region + ".")


def compliance_report(
    rollup: Rollup, *, period: str, level: Level, region: str | None = None, programme: str | None = None
) -> dict[str, Any]:
    """Compliance (groups that met on schedule / groups due) per programme and region for one month.

    `level=province` gives one row per programme and province; `level=kabupaten` one per programme and
    kabupaten. `region` narrows to a province or kabupaten code (and everything inside it).
    """
    rows: list[dict[str, Any]] = []
    for (row_programme, province, kabupaten, row_period), (met, due) in compliance_series(rollup).items():
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
                "level": level,
                "region_code": code,
                "groups_due": int(due),
                "groups_met_on_schedule": int(met),
                "compliance_ratio": round(met / due, 6) if due else 0.0,
            }
        )
    rows.sort(key=lambda row: (row["programme"], row["region_code"]))
    due_total = sum(row["groups_due"] for row in rows)
    met_total = sum(row["groups_met_on_schedule"] for row in rows)
    return {
        "period": period,
        "level": level,
        "region": region,
        "programme": programme,
        "rows": rows,
        "total": {
            "groups_due": due_total,
            "groups_met_on_schedule": met_total,
            "compliance_ratio": round(met_total / due_total, 6) if due_total else 0.0,
        },
    }


def compliance_csv(report: dict[str, Any]) -> str:
    """The report's rows as CSV (header first, one row per programme and region)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COMPLIANCE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow(row)
    return buffer.getvalue()


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
                "met_on_schedule": month.met_on_schedule if month.due_at else None,
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
