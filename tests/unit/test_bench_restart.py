"""The restart benchmark's pure parts: the copied states and the figures it writes."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from services.monitoring.rules.state import GroupContext, GroupState
from tools.bench.restart import RestartResult, Start, copies, figures


def test_copies_cycle_through_the_states_and_name_the_partition_their_id_hashes_to() -> None:
    states = [
        GroupState(context=GroupContext(programme="pkh-p2k2", facilitator_id=f"f{n}", region_code="3201"))
        for n in range(3)
    ]
    copied = list(copies(states, 7, 12))
    assert len({group_id for group_id, _, _ in copied}) == 7
    partitions = list(range(12))
    for index, (group_id, partition, state) in enumerate(copied):
        assert partition == DefaultPartitioner()(group_id.encode(), partitions, partitions)
        assert state.context is not None
        assert state.context.partition == partition
        assert state.context.facilitator_id == f"f{index % 3}"


def test_figures_at_100k_groups_are_the_medians_as_measured() -> None:
    result = RestartResult(
        store="memory://",
        groups=100_000,
        folded=1_000,
        value_bytes=500 * 2**20,
        empty=[Start(6.0, 80.0, 0)],
        cold=[Start(40.0, 1_080.0, 90_000), Start(50.0, 1_100.0, 90_000), Start(45.0, 1_090.0, 90_000)],
        restarted=[Start(55.0, 1_000.0, 90_000)],
    )
    expected = {
        "restart_to_caught_up_s_100k_groups": 55.0,
        "cold_start_to_caught_up_s_100k_groups": 45.0,
        "worker_rss_mib_per_100k_groups": 1_010.0,
        "changelog_mib_per_100k_groups": 500.0,
    }
    named = {f"{key}_memory": value for key, value in expected.items()}
    assert figures(result) == {**expected, **named}
    assert figures(result, headline=False) == named


def test_figures_at_another_size_keep_the_start_up_and_scale_what_the_state_added() -> None:
    result = RestartResult(
        store="rocksdb://",
        groups=10_000,
        folded=1_000,
        value_bytes=50 * 2**20,
        empty=[Start(6.0, 80.0, 0)],
        cold=[Start(8.0, 180.0, 9_000)],
        restarted=[Start(16.0, 180.0, 9_000)],
    )
    numbers = figures(result, headline=False)
    assert numbers == {
        "cold_start_to_caught_up_s_100k_groups_rocksdb": 26.0,  # 6 + (8 - 6) x 10
        "restart_to_caught_up_s_100k_groups_rocksdb": 106.0,
        "worker_rss_mib_per_100k_groups_rocksdb": 1_000.0,
        "changelog_mib_per_100k_groups_rocksdb": 500.0,
    }
