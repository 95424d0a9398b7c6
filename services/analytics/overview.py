"""The programme manager's page (pure): for those without Grafana, one page served by analytics —
compliance by province with drill-down to kabupaten and then to each facilitator (whose monthly report
is one click away), the trend over the last months as an inline SVG (no CDN, no script), deviations by
rule and how fast supervisors acknowledge alerts. Bahasa Indonesia first, English with `lang=en`.

`overview` builds the document from the running sums (and, for the facilitator level, the facts of the
kabupaten's groups); `overview_html` draws it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from services.analytics import aggregates, words
from services.analytics.aggregates import Compliance, GroupFacts, Rollup, compliance_series, schedule_outcome
from services.analytics.directory import Directory
from services.analytics.reports import compliance_row, html_table, page
from services.analytics.words import Language
from shared import regions

TREND_MONTHS = 6


def _t(language: Language, bahasa: str, english: str) -> str:
    return bahasa if language == "id" else english


def shift_period(period: str, months: int) -> str:
    """`2026-11` shifted by a number of months."""
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _level_of(region: str | None) -> str:
    if not region:
        return "province"
    return "kabupaten" if "." not in region else "facilitator"


def _in(code: str, region: str | None) -> bool:
    return not region or code == region or code.startswith(region + ".")


def _region_rows(
    series: dict[tuple[str, ...], Compliance], *, period: str, region: str | None, directory: Directory
) -> list[dict[str, Any]]:
    """Province rows (no region) or the kabupaten rows of a province, all programmes summed."""
    by_code: dict[str, Compliance] = {}
    for (_programme, province, kabupaten, row_period), counts in series.items():
        if row_period != period:
            continue
        if region is None and kabupaten == "":
            by_code.setdefault(province, Compliance()).add(counts)
        elif region is not None and kabupaten and _in(kabupaten, region):
            by_code.setdefault(kabupaten, Compliance()).add(counts)
    return [
        {"code": code, "name": directory.region(code), **compliance_row(counts)}
        for code, counts in sorted(by_code.items())
    ]


def _facilitator_rows(
    groups: Iterable[tuple[str, GroupFacts]], *, period: str, now: datetime, directory: Directory
) -> list[dict[str, Any]]:
    """One row per facilitator of a kabupaten's groups (from the groups' facts, not from metric labels)."""
    by_facilitator: dict[str, Compliance] = {}
    for _group_id, facts in groups:
        month = facts.periods.get(period)
        if month is None or month.due_at is None:
            continue
        outcome = schedule_outcome(facts, period)
        if outcome is None:
            continue
        counts = by_facilitator.setdefault(month.facilitator_id or facts.facilitator_id, Compliance())
        if outcome.due_at <= now:
            counts.due += 1
            counts.on_schedule += outcome.on_schedule
            counts.late += outcome.late
            counts.synced += outcome.synced_past_due
        else:
            counts.open += 1
            counts.open_met += outcome.on_schedule
    rows = [
        {"code": facilitator_id, "name": directory.facilitator(facilitator_id), **compliance_row(counts)}
        for facilitator_id, counts in by_facilitator.items()
    ]
    return sorted(rows, key=lambda row: row["name"])


def overview(
    rollup: Rollup,
    *,
    period: str,
    now: datetime,
    region: str | None = None,
    groups: Iterable[tuple[str, GroupFacts]] = (),
    directory: Directory | None = None,
) -> dict[str, Any]:
    """Everything the manager's page shows for a period and a region (None: all of Indonesia)."""
    directory = directory or Directory()
    series = compliance_series(rollup, now)
    level = _level_of(region)
    if level == "facilitator":
        rows = _facilitator_rows(groups, period=period, now=now, directory=directory)
    else:
        rows = _region_rows(series, period=period, region=region, directory=directory)
    trend = []
    for back in range(TREND_MONTHS - 1, -1, -1):
        month = shift_period(period, -back)
        counts = Compliance()
        for (_programme, row_province, kabupaten, row_period), item in series.items():
            code = kabupaten or row_province
            if row_period == month and (kabupaten == "") == ("." not in (region or "")) and _in(code, region):
                counts.add(item)
        trend.append({"period": month, **compliance_row(counts)})
    province = regions.province_of(region) if region else None
    deviations: dict[str, dict[str, float]] = {}
    for metric, name in ((aggregates.OPENED, "opened"), (aggregates.OPEN, "open")):
        for (rule, _severity, _programme, row_province), value in rollup.get(metric).items():
            if province is None or row_province == province:
                deviations.setdefault(rule, {"opened": 0.0, "open": 0.0})[name] += value
    acks: dict[str, dict[str, float]] = {}
    buckets = len(aggregates.ACK_SECONDS_BUCKETS) + 1
    for (severity, _level, bucket), value in rollup.get(aggregates.ACK).items():
        entry = acks.setdefault(severity, {"count": 0.0, "sum": 0.0, "within_hour": 0.0})
        if bucket in ("count", "sum"):
            entry[bucket] += value
        elif int(bucket) < buckets and aggregates.ACK_SECONDS_BUCKETS[int(bucket)] <= 3600:
            entry["within_hour"] += value
    return {
        "period": period,
        "region": region,
        "region_name": directory.region(region) if region else "Indonesia",
        "province_name": directory.region(province) if province else None,
        "level": level,
        "as_of": now.isoformat().replace("+00:00", "Z"),
        "rows": rows,
        "trend": trend,
        "deviations": [
            {"rule": rule, "opened": int(v["opened"]), "open": int(v["open"])}
            for rule, v in sorted(deviations.items(), key=lambda item: -item[1]["opened"])
        ],
        "acknowledgements": [
            {
                "severity": severity,
                "count": int(v["count"]),
                "mean_seconds": v["sum"] / v["count"] if v["count"] else None,
                "within_hour_ratio": v["within_hour"] / v["count"] if v["count"] else None,
            }
            for severity, v in sorted(acks.items(), key=lambda item: ("critical", "warning", "info").index(item[0]))
            if severity in ("critical", "warning", "info")
        ],
    }


_OVERVIEW_STYLE = """
.bar { display: inline-block; height: .7em; background: #2f7d4a; vertical-align: middle; }
.barbox { display: inline-block; width: 5em; background: #e4e7eb; text-align: left; }
.pct { display: inline-block; width: 3.2em; text-align: right; }
nav a { margin-right: 1em; } a { color: #174ea6; } svg text { font-size: 11px; fill: #333; }
.cols { display: flex; gap: 2em; flex-wrap: wrap; } .cols > section { flex: 1; min-width: 22em; }
"""


def _trend_svg(trend: list[dict[str, Any]], language: Language) -> str:
    """Compliance per month as bars with their percentages; a month with nothing due shows no bar."""
    width, height, left, bottom, top = 520, 170, 36, 28, 14
    step = (width - left) / max(len(trend), 1)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        f"aria-label='{escape(_t(language, 'Kepatuhan per bulan', 'Compliance per month'))}'>"
    ]
    for share in (0, 0.5, 1):
        y = top + (1 - share) * (height - top - bottom)
        parts.append(f"<line x1='{left}' x2='{width}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ccc'/>")
        parts.append(f"<text x='0' y='{y + 4:.1f}'>{round(share * 100)}%</text>")
    for index, month in enumerate(trend):
        x = left + index * step + step * 0.2
        label = words.period_label(month["period"], language).split(" ")
        short = f"{label[0][:3]} {label[1][2:]}"
        parts.append(f"<text x='{x:.1f}' y='{height - 8}'>{escape(short)}</text>")
        ratio = month["compliance_ratio"]
        if ratio is None:
            parts.append(f"<text x='{x:.1f}' y='{height - bottom - 4}' fill='#888'>—</text>")
            continue
        bar = ratio * (height - top - bottom)
        y = height - bottom - bar
        parts.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{step * 0.6:.1f}' height='{bar:.1f}' fill='#2f7d4a'>"
            f"<title>{escape(words.period_label(month['period'], language))}: {words.percent(ratio)}</title></rect>"
        )
        parts.append(f"<text x='{x:.1f}' y='{max(y - 3, 10):.1f}'>{words.percent(ratio)}</text>")
    parts.append("</svg>")
    return "".join(parts)


NOTE_ID = (
    "Kelompok yang batas waktunya belum tiba dihitung sebagai masih berjalan, tidak pernah sebagai gagal. "
    "Kesegaran data: bagian kelompok jatuh tempo yang ponsel pendampingnya sudah tersinkron melewati batas "
    "waktu (tanpa itu, \u201cbelum bertemu\u201d bisa berarti laporannya masih di ponsel). "
    "Klik nama untuk melihat rinciannya."
)
NOTE_EN = (
    "Groups whose due time is ahead count as still open, never as failures. Data freshness: the share of groups "
    "due whose facilitator's phone has synced past the due time (without it, \u201cnot met\u201d may mean the "
    "report is still on the phone). Click a name for its details."
)


def _empty(language: Language, bahasa: str, english: str) -> str:
    return f"<p class='empty'>{escape(_t(language, bahasa, english))}</p>"


def _bar(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return (
        f"<span class='barbox'><span class='bar' style='width:{ratio * 100:.0f}%'></span></span>"
        f"<span class='pct'>{words.percent(ratio)}</span>"
    )


def overview_html(
    document: dict[str, Any], *, language: Language = "id", link_query: dict[str, str] | None = None
) -> str:
    """The manager's page. `link_query` (e.g. the token) is carried into every drill-down link."""
    carried = dict(link_query or {})
    if language == "en":
        carried["lang"] = "en"

    def link(path: str = "/reports/overview", **params: str | None) -> str:
        query = {**carried, **{key: value for key, value in params.items() if value}}
        return escape(f"{path}?{urlencode(query)}")

    period, region = document["period"], document["region"]
    month = words.period_label(period, language)
    title = _t(
        language,
        f"Pantau — ringkasan program: {document['region_name']}, {month}",
        f"Pantau — programme overview: {document['region_name']}, {month}",
    )
    crumbs = [f"<a href='{link(period=period)}'>Indonesia</a>"]
    if region:
        province = regions.province_of(region)
        crumbs.append(
            f"<a href='{link(period=period, region=province)}'>{escape(document['province_name'] or province)}</a>"
        )
        if "." in region:
            crumbs.append(escape(document["region_name"]))
    nav = (
        "<nav>"
        + " › ".join(crumbs)
        + f" · <a href='{link(period=shift_period(period, -1), region=region)}'>‹ "
        + escape(words.period_label(shift_period(period, -1), language))
        + f"</a><a href='{link(period=shift_period(period, 1), region=region)}'>"
        + escape(words.period_label(shift_period(period, 1), language))
        + " ›</a>"
        + f"<a href='{link(period=period, region=region, lang='en' if language == 'id' else None)}'>"
        + ("English" if language == "id" else "Bahasa Indonesia")
        + "</a></nav>"
    )
    level_word = {
        "province": _t(language, "Provinsi", "Province"),
        "kabupaten": _t(language, "Kabupaten/Kota", "Regency/city"),
        "facilitator": _t(language, "Pendamping", "Facilitator"),
    }[document["level"]]
    headers = [
        level_word,
        _t(language, "Jatuh tempo", "Due"),
        _t(language, "Tepat waktu", "On schedule"),
        _t(language, "Terlambat", "Late"),
        _t(language, "Belum bertemu", "Not met"),
        _t(language, "Kepatuhan", "Compliance"),
        _t(language, "Masih berjalan", "Still open"),
        _t(language, "Kesegaran data", "Data freshness"),
    ]
    body = []
    for row in document["rows"]:
        if document["level"] == "facilitator":
            target = link(f"/api/v1/reports/facilitators/{row['code']}/monthly", period=period, format="html")
        else:
            target = link(period=period, region=row["code"])
        body.append(
            [
                f"<a href='{target}'>{escape(row['name'])}</a>",
                row["groups_due"],
                row["groups_met_on_schedule"],
                row["groups_met_late"],
                row["groups_not_met"],
                _bar(row["compliance_ratio"]),
                row["groups_open"],
                words.percent(row["data_freshness_ratio"]),
            ]
        )
    table = (
        html_table(headers, body, numeric_from=1)
        if body
        else _empty(
            language, "Tidak ada kelompok yang dijadwalkan pada periode ini.", "No group was scheduled in this period."
        )
    )
    deviations = (
        html_table(
            [
                _t(language, "Penyimpangan", "Deviation"),
                _t(language, "Pernah terdeteksi", "Detected"),
                _t(language, "Masih terbuka", "Open now"),
            ],
            [
                [escape(words.lookup(words.RULES, d["rule"], language)), d["opened"], d["open"]]
                for d in document["deviations"]
            ],
            numeric_from=1,
        )
        if document["deviations"]
        else f"<p class='empty'>{escape(_t(language, 'Belum ada penyimpangan.', 'No deviations yet.'))}</p>"
    )
    acks = (
        html_table(
            [
                _t(language, "Tingkat", "Severity"),
                _t(language, "Ditanggapi", "Acknowledged"),
                _t(language, "Rata-rata waktu tanggap", "Mean time to acknowledge"),
                _t(language, "Dalam 1 jam", "Within 1 hour"),
            ],
            [
                [
                    escape(words.lookup(words.SEVERITIES, a["severity"], language)),
                    a["count"],
                    escape(words.seconds_in_words(a["mean_seconds"], language))
                    if a["mean_seconds"] is not None
                    else "—",
                    words.percent(a["within_hour_ratio"]),
                ]
                for a in document["acknowledgements"]
            ],
            numeric_from=1,
        )
        if document["acknowledgements"]
        else _empty(language, "Belum ada peringatan yang ditanggapi.", "No alert acknowledged yet.")
    )
    as_of = words.local_datetime(document["as_of"], "Asia/Jakarta", language)
    return page(
        title,
        [
            f"<style>{_OVERVIEW_STYLE}</style>",
            f"<h1>{escape(title)}</h1>",
            f"<p class='meta'>{escape(_t(language, 'Keadaan per', 'As of'))} {escape(as_of)}</p>",
            nav,
            f"<h2>{escape(_t(language, 'Kepatuhan jadwal pertemuan', 'Meeting schedule compliance'))}</h2>",
            table,
            f"<p class='note'>{escape(_t(language, NOTE_ID, NOTE_EN))}</p>",
            f"<h2>{escape(_t(language, 'Tren kepatuhan', 'Compliance trend'))}</h2>",
            _trend_svg(document["trend"], language),
            "<div class='cols'><section>",
            f"<h2>{escape(_t(language, 'Penyimpangan menurut aturan', 'Deviations by rule'))}</h2>",
            deviations,
            "</section><section>",
            f"<h2>{escape(_t(language, 'Waktu tanggap peringatan', 'Alert acknowledgement times'))}</h2>",
            acks,
            "</section></div>",
        ],
        language=language,
    )
