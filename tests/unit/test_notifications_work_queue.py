"""The console's drill-down figures (pure): which row a group counts in at each level, compliance
(share of groups reporting) and groups needing attention, ranked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifications.work_queue import DeviceSync, Group, Row, child_key, pending_on_devices, summarise

pytestmark = pytest.mark.unit

GROUPS = [
    Group("KLP-1", "Kelompok Mawar", "PDP-1", "18.71.01.1001"),
    Group("KLP-2", "Kelompok Melati", "PDP-1", "18.71.01.1001"),
    Group("KLP-3", "Kelompok Anggrek", "PDP-2", "18.72.02.2001"),
    Group("KLP-4", "Kelompok Kenanga", "PDP-3", "73.71.01.1001"),
]
NAMES = {"18": "Lampung", "73": "Sulawesi Selatan", "18.71": "Kota Bandar Lampung", "18.72": "Kota Metro"}


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("nasional", ("region", "18")),
        ("provinsi", ("region", "18.71")),
        ("kabupaten", ("facilitator", "PDP-1")),
        ("facilitator", ("group", "KLP-1")),
    ],
)
def test_each_level_counts_a_group_in_its_child(level: str, expected: tuple[str, str]) -> None:
    assert child_key(level, GROUPS[0]) == expected


def test_national_rows_are_provinces_with_compliance_and_attention_first() -> None:
    rows = summarise("nasional", GROUPS, reporting={"KLP-1", "KLP-3", "KLP-4"}, attention={"KLP-2"}, names=NAMES)
    assert rows == [Row("region", "18", "Lampung", 3, 2, 1), Row("region", "73", "Sulawesi Selatan", 1, 1, 0)]
    assert rows[0].compliance == pytest.approx(2 / 3)


def test_without_attention_the_least_compliant_come_first() -> None:
    rows = summarise("provinsi", GROUPS[:3], reporting={"KLP-3"}, attention=set(), names=NAMES)
    assert [(row.id, row.compliance) for row in rows] == [("18.71", 0.0), ("18.72", 1.0)]


def test_a_facilitators_rows_are_their_groups_and_unknown_names_fall_back_to_ids() -> None:
    rows = summarise(
        "facilitator", GROUPS[:2], reporting={"KLP-2"}, attention=set(), names={"KLP-2": "Kelompok Melati"}
    )
    assert [(row.kind, row.name, row.compliance) for row in rows] == [
        ("group", "KLP-1", 0.0),
        ("group", "Kelompok Melati", 1.0),
    ]


def test_no_groups_no_rows_and_no_compliance() -> None:
    assert summarise("nasional", [], reporting=set(), attention=set(), names={}) == []
    assert Row("region", "18", "Lampung", 0, 0, 0).compliance is None


AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([], None),
        ([None], None),
        ([None, None], None),
        ([0], 0),
        ([3, None], 3),
        ([3, 1, None, 0], 4),
    ],
    ids=["no device", "not said", "none said", "nothing waiting", "one said", "summed over devices"],
)
def test_items_on_the_phones_are_summed_over_the_devices_that_said(
    counts: list[int | None], expected: int | None
) -> None:
    assert pending_on_devices([DeviceSync(AT, AT, count) for count in counts]) == expected
