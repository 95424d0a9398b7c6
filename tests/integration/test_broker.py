"""The test broker itself: topics from topics.yaml, idempotent creation, no auto-create, and clients."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaTimeoutError

from shared.kafka_admin import admin_client_config
from tests.fixtures.kafka import skip_or_fail
from tools.time_matrix import without_faketime
from tools.topics import TopicError, create_topics, list_topics, load_topic_specs

pytestmark = pytest.mark.integration


def _kcat_metadata(bootstrap: str) -> dict[str, int]:
    kcat = shutil.which("kcat")
    if kcat is None:
        skip_or_fail("kcat is not installed (apt-get install kcat, or scripts/bootstrap.sh)")
    result = subprocess.run(
        [kcat, "-b", bootstrap, "-L", "-J", "-m", "15"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=without_faketime(os.environ),  # librdkafka hangs under a faked calendar
    )
    assert result.returncode == 0, f"kcat failed: {result.stderr}"
    metadata = json.loads(result.stdout)
    return {topic["topic"]: len(topic["partitions"]) for topic in metadata["topics"]}


def test_kcat_sees_every_contract_topic_with_its_partition_count(kafka_bootstrap: str, kafka_topics: str) -> None:
    """An independent client (librdkafka's kcat) confirms what create_topics made."""
    seen = _kcat_metadata(kafka_bootstrap)

    expected = {kafka_topics + spec.name: spec.partitions for spec in load_topic_specs()}
    assert expected, "topics.yaml declares no topics"
    ours = {name: count for name, count in seen.items() if name.startswith(kafka_topics)}
    assert ours == expected


def test_create_topics_is_idempotent(kafka_bootstrap: str, kafka_topics: str) -> None:
    """kafka_topics already created them once; creating again (twice) changes nothing and succeeds."""
    specs = load_topic_specs()
    expected_names = [kafka_topics + spec.name for spec in specs]

    again = create_topics(kafka_bootstrap, prefix=kafka_topics)
    once_more = create_topics(kafka_bootstrap, prefix=kafka_topics)

    assert again == once_more == expected_names
    counts = list_topics(kafka_bootstrap)
    assert {name: counts[name] for name in expected_names} == {kafka_topics + s.name: s.partitions for s in specs}


def test_create_topics_refuses_a_partition_count_that_contradicts_an_existing_topic(
    kafka_bootstrap: str, kafka_topics: str
) -> None:
    spec = load_topic_specs()[0]
    changed = dataclasses.replace(spec, partitions=spec.partitions + 1)

    with pytest.raises(TopicError, match="partitions"):
        create_topics(kafka_bootstrap, prefix=kafka_topics, specs=[changed])

    assert list_topics(kafka_bootstrap)[kafka_topics + spec.name] == spec.partitions


def test_broker_does_not_auto_create_topics(kafka_bootstrap: str, topic_prefix: str) -> None:
    missing = f"{topic_prefix}not.in.topics.yaml"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=2_000)
    try:
        # The producer's metadata request asks for auto-creation; the broker must refuse, so the
        # send cannot find a partition and times out.
        with pytest.raises(KafkaTimeoutError):
            producer.send(missing, b"should not be stored").get(timeout=5)
    finally:
        producer.close(timeout=5)

    admin = KafkaAdminClient(**admin_client_config(kafka_bootstrap, "test-auto-create", 10))
    try:
        assert missing not in admin.list_topics()
    finally:
        admin.close()


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        metadata = producer.send(topic, key=key, value=value).get(timeout=15)
    finally:
        producer.close(timeout=5)
    return metadata.partition, metadata.offset


async def test_kafka_python_produces_and_aiokafka_consumes(kafka_bootstrap: str, kafka_topics: str) -> None:
    topic = kafka_topics + "meetings.events"
    key, value = b"group-1", f"hello {uuid4()}".encode()

    # kafka-python blocks; keep it off the event loop.
    partition, offset = await asyncio.to_thread(_produce, kafka_bootstrap, topic, key, value)

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()

    assert (record.topic, record.partition, record.offset) == (topic, partition, offset)
    assert (record.key, record.value) == (key, value)
