"""Compliance reports built from the aggregates (pure): per period and region as JSON-ready dicts, CSV
and a printable page, so nobody re-types what Pantau already knows. The shared page style and table
helper live here too (the monthly report in `monthly.py` and the manager's page in `overview.py` use them)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from html import escape
from typing import Any, Literal

from services.analytics import words
from services.analytics.aggregates import Compliance, Rollup, compliance_series
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
    table = html_table(headers, body, numeric_from=2)
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
    return page(
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


def html_table(headers: list[str], rows: list[list[Any]], *, numeric_from: int = 99) -> str:
    """A table whose cells are already escaped HTML (or numbers); columns from `numeric_from` right-aligned."""
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
table { border-collapse: collapse; width: calc(100% - 2px); margin: .4em 0 1em; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: .25em .45em; text-align: left; vertical-align: top; }
th { background: #eef1f4; } .num { text-align: right; } td.num { white-space: nowrap; }
.summary { border: 1px solid #999; padding: .6em .9em; background: #f7f8fa; }
.summary ul { margin: .3em 0 0 1.1em; padding: 0; }
.sign { margin-top: 2.5em; display: flex; gap: 4em; break-inside: avoid; }
.sign div { flex: 1; } .sign p { margin: 4.5em 0 0; border-top: 1px solid #555; padding-top: .3em; }
.good { color: #1d6b2f; } .bad { color: #a32020; } .open { color: #7a5a00; }
@media print { body { margin: 0; max-width: none; } h2, h3 { break-after: avoid; } tr { break-inside: avoid; } }
"""


def page(title: str, parts: list[str], *, language: words.Language) -> str:
    """One printable A4 page: the shared style around the parts (already escaped HTML)."""
    return "\n".join(
        [
            f"<!doctype html><html lang='{language}'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
            *parts,
            "</body></html>",
        ]
    )
