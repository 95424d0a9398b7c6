"""Planting national IDs (NIKs) in every field a client can send, and finding them again.

A fuzzing-style run: each valid request of the meetings API is sent once per field it has (and
once per path id), that field replaced by a fresh NIK-shaped value — whole, grouped 4-4-4-4 with
spaces, by its parts with dots, 6-6-4 with dashes, or inside text — or, for numbers, a 16-digit
number. Afterwards no planted NIK may be found, in any of its forms, on any topic, in any table or
in any log line."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from shared.privacy import NIK_SHAPED

SIXTEEN_DIGITS = re.compile(rb"(?<![0-9])[0-9]{16}(?![0-9])")
# A 16-digit number standing on its own: a run of digits inside a hexadecimal id (a derived deviation
# or alert id) is not a number anyone sent, nor are the decimals of a fraction (8/15 is
# 0.5333333333333333: sixteen digits after the point).
SIXTEEN_DIGIT_WORD = re.compile(rb"(?<![0-9A-Za-z])(?<![0-9]\.)[0-9]{16}(?![0-9A-Za-z])")

Request = tuple[str, str, Any]


def nik(index: int) -> str:
    """The index-th planted NIK: a plausible one (province 32, a birth date), unique per index."""
    return f"3201{(index % 28) + 1:02d}0{(index % 9) + 1}{index:08d}"


def written(value: str, index: int) -> str:
    """One of the ways people write a NIK."""
    forms = (
        value,
        f"{value[:4]} {value[4:8]} {value[8:12]} {value[12:]}",
        f"{value[:2]}.{value[2:4]}.{value[4:6]}.{value[6:12]}.{value[12:]}",
        f"{value[:6]}-{value[6:12]}-{value[12:]}",
        f"NIK {value} ",
    )
    return forms[index % len(forms)]


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _leaves(value, (*path, index))
    elif isinstance(document, str | int | float) and not isinstance(document, bool):
        yield path


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def setup_requests() -> list[Request]:
    """The group and plan the planted requests refer to (facilitator `PDP-P` must exist)."""
    return [
        (
            "PUT",
            "/groups/KLP-PL",
            {
                "name": "Kelompok Tanam",
                "programme": "pkh-p2k2",
                "facilitator_id": "PDP-P",
                "region_code": "18.71.01.1001",
                "members": ["kpm-plant-a", "kpm-plant-b"],
            },
        ),
        (
            "PUT",
            "/plans/PL-P",
            {
                "group_id": "KLP-PL",
                "title": "Rencana",
                "starts_on": "2026-01-01",
                "ends_on": "2026-12-31",
                "agreed_by": ["PDP-P", "kpm-plant-a"],
                "activities": [
                    {
                        "id": "AC-P",
                        "title": "Pelatihan",
                        "stage": "dialogue",
                        "due_on": "2026-06-30",
                        "responsible": "group",
                    }
                ],
            },
        ),
    ]


def templates(i: int, now: datetime) -> list[Request]:
    """Valid requests of every writing endpoint, with ids unique to `i` (so none is a repeat)."""
    started = now - timedelta(hours=5)
    report = {
        "report_id": f"pr-{i}",
        "group_id": "KLP-PL",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=1)).isoformat(),
        "facilitator_present": True,
        "led_by": "facilitator",
        "module": "Modul 1",
        "topic": "Pengasuhan",
        "attendance": [{"member_ref": "kpm-plant-a", "status": "present"}],
        "recorded_at": (started + timedelta(hours=2)).isoformat(),
        "device_id": f"hp-plant-{i}",
    }
    return [
        ("PUT", f"/regions/18.71.0{i % 9 + 1}", {"name": "Kecamatan Tanjung Karang", "level": "kecamatan"}),
        (
            "PUT",
            f"/supervisors/SUP-{i}",
            {"name": "Dewi", "level": "kabupaten", "region_code": "18.71", "email": "dewi@example.org"},
        ),
        (
            "PUT",
            f"/facilitators/PDP-{i}",
            {"name": "Rina", "programme": "pkh-p2k2", "region_code": "18.71.01", "phone": "+62 812 3456"},
        ),
        (
            "PUT",
            f"/groups/KLP-{i}",
            {
                "name": "Kelompok Anggrek",
                "programme": "pkh-p2k2",
                "facilitator_id": "PDP-P",
                "region_code": "18.71.01.1001",
                "members": ["kpm-plant-a", {"member_ref": "kpm-plant-b", "display_name": "Ibu Ani"}],
                "chair_member_ref": "kpm-plant-a",
                "schedule": {"cadence": "monthly", "day_of_month": 10},
            },
        ),
        (
            "PUT",
            f"/plans/PL-{i}",
            {
                "group_id": "KLP-PL",
                "title": "Rencana usaha",
                "starts_on": "2026-01-01",
                "ends_on": "2026-12-31",
                "agreed_by": ["PDP-P", "kpm-plant-a"],
                "activities": [
                    {
                        "id": f"AC-{i}",
                        "title": "Pelatihan",
                        "stage": "dialogue",
                        "due_on": "2026-06-30",
                        "responsible": "group",
                        "indicator": {"name": "KPM hadir", "unit": "keluarga", "baseline": 1, "target": 20},
                    }
                ],
            },
        ),
        (
            "POST",
            "/activities/AC-P/progress",
            {
                "progress_id": f"pg-{i}",
                "reported_on": "2026-02-01",
                "status": "in_progress",
                "indicator_value": 5,
                "recorded_at": now.isoformat(),
            },
        ),
        ("POST", "/meetings", report),
        (
            "POST",
            "/meetings/batch",
            {
                "device_id": f"hp-batch-{i}",
                "synced_through": now.isoformat(),
                "facilitator_id": "PDP-P",
                "reports": [{**report, "report_id": f"prb-{i}", "device_id": f"hp-batch-{i}"}],
            },
        ),
        (
            "POST",
            "/evaluations",
            {
                "evaluation_id": f"ev-{i}",
                "group_id": "KLP-PL",
                "facilitator_id": "PDP-P",
                "direction": "group_rates_facilitator",
                "period": "2026-11",
                "scores": {"kehadiran": 4},
                "comment": "Baik",
                "recorded_at": now.isoformat(),
            },
        ),
        ("POST", f"/facilitators/PDP-{i}/enrolments", {}),
    ]


def planted_requests(now: datetime) -> tuple[list[Request], set[str]]:
    """Every template once per field (and per path id) with a NIK planted there; the NIKs planted."""
    requests: list[Request] = []
    planted: set[str] = set()
    for position, (method, path, body) in enumerate(templates(0, now)):
        for leaf in list(_leaves(body)):
            index = len(requests) + 1
            value = nik(index)
            planted.add(value)
            original = body
            for part in leaf:
                original = original[part]
            replacement: Any = int(value) if isinstance(original, int | float) else written(value, index)
            fresh_method, fresh_path, fresh_body = templates(index, now)[position]
            requests.append((fresh_method, fresh_path, _replaced(fresh_body, leaf, replacement)))
        segments = path.split("/")
        if len(segments) > 2:
            index = len(requests) + 1
            value = nik(index)
            planted.add(value)
            segments[2] = written(value, index)
            requests.append((method, "/".join(segments), body))
    for route in ("/groups/{}", "/facilitators/{}/worklist"):
        index = len(requests) + 1
        value = nik(index)
        planted.add(value)
        requests.append(("GET", route.format(written(value, index)), None))
    return requests, planted


def planted_found(data: bytes, planted: set[str]) -> set[str]:
    """The planted NIKs present in `data` in any written form."""
    text = data.decode("utf-8", "replace")
    found = {
        "".join(ch for ch in match.group("nik") if ch.isdigit())
        for match in NIK_SHAPED.finditer(text)
        if match.group("nik")
    }
    return found & planted


def all_records(bootstrap: str, prefix: str) -> list[bytes]:
    """Every record (key, value and headers) on the topics of `prefix`, from the beginning."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        topics = [name for name in consumer.topics() if name.startswith(prefix) or name.startswith(f"{prefix}pantau")]
        assignment = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        end = consumer.end_offsets(assignment)
        found: list[bytes] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in assignment) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    found.append((message.key or b"") + b" " + (message.value or b""))
                    found.extend(bytes(value) for _name, value in (message.headers or []))
        return found
    finally:
        consumer.close()


def database_rows(workdir: Path) -> Iterator[tuple[str, bytes]]:
    """Every row of every table of every SQLite database under `workdir`, as one line of text
    (`database.table` and the row's values joined by spaces)."""
    for database in workdir.rglob("*.db"):
        with sqlite3.connect(database) as connection:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for row in connection.execute(f'SELECT * FROM "{table}"'):
                    text = " ".join(
                        value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value) for value in row
                    )
                    yield f"{database.name}.{table}", text.encode()


def sixteen_digit_numbers(workdir: Path, *, bootstrap: str, prefix: str) -> list[str]:
    """Where a 16-digit number stands on its own: any topic record, any row of any database file
    under `workdir`, any line of its logs."""
    found = [
        f"topic record: {record[:120]!r}"
        for record in all_records(bootstrap, prefix)
        if SIXTEEN_DIGIT_WORD.search(record)
    ]
    found.extend(
        f"{where}: {text[:120]!r}" for where, text in database_rows(workdir) if SIXTEEN_DIGIT_WORD.search(text)
    )
    for log in workdir.rglob("*.log"):
        found.extend(
            f"{log.name}: {line[:160]!r}" for line in log.read_bytes().splitlines() if SIXTEEN_DIGIT_WORD.search(line)
        )
    return found
