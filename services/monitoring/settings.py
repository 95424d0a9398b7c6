"""Monitoring settings: `PANTAU_MONITORING_*` (plus the shared `PANTAU_KAFKA_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.monitoring.native import DEFAULT_BUILD
from services.monitoring.programmes import PROGRAMMES_DIR
from shared.heap import FULL_COLLECTION_EVERY_S
from shared.settings import ServiceSettings
from shared.topics import GROUP_KEYED_PARTITIONS

# Records per batch with the `event` clock, and the longest wait to gather them, by consumer, unless
# PANTAU_MONITORING_BATCH_SIZE / _BATCH_SECONDS say otherwise. The loop consumer's are larger: each
# batch writes every group it touched once (with 12,018 groups 20,000-record batches wrote a state for
# about a quarter as many records as 5,000 did: 8,208 → 10,234 events/s, 2026-12-04), and since it
# folds a batch group by group (`folding.GroupFolding.read_groups`) a batch holding more records of
# each group runs faster: over 19,973 groups (a generated month, one loop worker, 2026-12-05) 14,745
# events/s with 20,000 records a batch, 17,352 with 50,000, 21,103 with 100,000 (14,239 and 13,968
# against 21,807 and 19,089 in two more pairs), for about 300 MiB more at the peak (the batch's
# records and facts). The window grows with it: gathering 100,000 records takes longer than 0.25 s.
# Over a national tenth (39,972 groups, one loop worker, 2026-12-05) 100,000 records in 1.5 s still
# left 2.3 records of each group a batch, each group's visit costing about 64 µs (its state encoded
# and written, its objects back into the processor's caches): 15,909 events/s; 400,000 within 3 s,
# 21,268 (23,466 with 1,000,000 within 6 s), for about 660 MiB more at the peak (1,947 → 2,607 MiB
# at the end: about 2 KiB for each record a batch holds).
REPLAY_BATCH_SIZES: dict[str, int] = {"faust": 5000, "loop": 400_000}
REPLAY_BATCH_SECONDS: dict[str, float] = {"faust": 0.25, "loop": 3.0}


class MonitoringSettings(ServiceSettings):
    """Configuration of the monitoring worker."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_MONITORING_", extra="ignore")

    consumer: Literal["faust", "loop"] = Field(
        default="loop",
        description="`loop` (the default): a consumer loop of its own, each batch one Kafka transaction "
        "(`services/monitoring/loop.py`; its own consumer group, changelogs and signals topic); or `faust`, "
        "the faust-streaming worker (`app.py`, `STORE` applies to it only).",
    )
    native: Path | None = Field(
        default=DEFAULT_BUILD,
        description="A build of the rules compiled with mypyc (`python -m tools.native build`, which `make setup` "
        "runs: `.cache/native`), used when it is of these very sources; else the sources run and the log says "
        "why (`services/monitoring/native.py`). `off` runs the sources.",
    )
    app_id: str = Field(default="pantau-monitoring", description="Faust app id = consumer group name.")
    web_host: str = Field(default="127.0.0.1", description="Interface the worker's web server binds.")
    web_port: int = Field(default=8002, description="Port of /healthz, /readyz and /metrics.")
    data_dir: Path = Field(default=Path("var/monitoring"), description="Faust's local data directory.")
    programmes_dir: Path = Field(default=PROGRAMMES_DIR, description="Folder of programme YAML files.")
    store: Literal["memory://", "rocksdb://"] = Field(
        default="memory://",
        description="Where the rules' state lives between restarts: `memory://` (rebuilt from the changelog "
        "at every start) or `rocksdb://` (on disk under `data_dir`; a restart reads only the changelog's tail).",
    )
    partitions: int = Field(default=GROUP_KEYED_PARTITIONS, description="Partitions of group-keyed topics.")
    clock: Literal["wall", "event"] = Field(
        default="wall", description="`wall` when live; `event` (event-time watermark) when replaying history."
    )
    batch_size: int = Field(
        default=1000,
        ge=1,
        description="Records processed (and published) together; with the `event` clock unless set, 400,000 for the "
        "loop consumer and 5,000 for Faust (`REPLAY_BATCH_SIZES`).",
    )
    batch_seconds: float = Field(
        default=0.02,
        gt=0,
        description="Longest wait to fill a batch; with the `event` clock unless set, 3 s for the loop consumer "
        "and 0.25 s for Faust (`REPLAY_BATCH_SECONDS`).",
    )
    tick_seconds: float = Field(default=1.0, gt=0, description="How often the due-time index is checked.")
    full_collection_seconds: float = Field(
        default=FULL_COLLECTION_EVERY_S,
        gt=0,
        description="How often the loop worker looks at all its objects again for garbage cycles "
        "(`shared/heap.BatchCollector`); the event loop stands still meanwhile.",
    )
    decoded_states_kept: int = Field(
        default=50_000,
        ge=0,
        description="Groups whose decoded state stays in memory beside its stored bytes (the most recently "
        "stored): each saves a decode per record (500 instead of all 4,000 groups: 23 % slower) and costs "
        "about ten times its stored size.",
    )
    source: str = Field(default="/pantau/monitoring", description="CloudEvents `source` of published events.")
    log_level: str = Field(default="info", description="Worker log level.")

    @field_validator("native", mode="before")
    @classmethod
    def _native_off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "off", "none") else value

    @model_validator(mode="after")
    def _replay_batches(self) -> MonitoringSettings:
        # Live, a batch is whatever arrived within 20 ms: a deviation waits no longer than that. A
        # replay has every record waiting already; larger batches share their fixed costs (the
        # waits for the broker, one state write per group per batch instead of per record) over more
        # records: 2,598 → 3,403 events/s in `make bench` (2026-12-03, docs/benchmarks.md).
        if self.clock == "event":
            if "batch_size" not in self.model_fields_set:
                self.batch_size = REPLAY_BATCH_SIZES[self.consumer]
            if "batch_seconds" not in self.model_fields_set:
                self.batch_seconds = REPLAY_BATCH_SECONDS[self.consumer]
        return self
