"""kafka-python checks: default producer, group consumer, offsets_for_times, admin (topics,
configs, deleting consumer groups as `kafka-consumer-groups --delete` does).

Usage: kafka_python_check.py BOOTSTRAP NAME
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from compat_util import expect, partition_for_key

B, NAME = sys.argv[1], sys.argv[2]
TOPIC, TIMED = f"kp-{NAME}", f"kp-timed-{NAME}"

# Admin: create topics, describe their configs.
admin = KafkaAdminClient(bootstrap_servers=B, client_id="kp-admin")
admin.create_topics([NewTopic(TOPIC, 3, 1), NewTopic(TIMED, 1, 1, topic_configs={"retention.ms": "86400000"})])
expect({TOPIC, TIMED} <= set(admin.list_topics()), "created topics are listed")
described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TIMED)], config_filter="all")
# kafka-python 3 returns {"topic": {name: {config: {"value": ..., "config_source": ...}}}}.
entries = described["topic"][TIMED]
names = set(entries)
expect({"cleanup.policy", "retention.ms", "max.message.bytes", "segment.bytes"} <= names,
       f"config entries: {sorted(names)}")
retention = entries["retention.ms"]
expect(retention["value"] == "86400000" and retention["config_source"] == "DYNAMIC_TOPIC_CONFIG",
       f"retention.ms override: {retention}")
policy = entries["cleanup.policy"]
expect(policy["value"] == "delete" and policy["config_source"] == "DEFAULT_CONFIG", f"cleanup.policy: {policy}")

# Producer with default settings (kafka-python 3 defaults to idempotence and acks=all).
producer = KafkaProducer(bootstrap_servers=B)
sent = {}
futures = []
for i in range(300):
    key, value = f"kp-{i}".encode(), f"value-{i}".encode()
    headers = [("n", str(i).encode()), ("n", b"again")]
    futures.append((key, producer.send(TOPIC, key=key, value=value, headers=headers)))
    sent[key] = (value, headers)
producer.flush()
for key, f in futures:
    md = f.get(timeout=30)
    expect(md.partition == partition_for_key(key, 3), f"{key} on partition {md.partition} (murmur2)")

# A group consumer reads them all back.
consumer = KafkaConsumer(TOPIC, bootstrap_servers=B, group_id=f"kp-group-{NAME}", auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=10000)
got = {}
for m in consumer:
    expect(m.key not in got, f"duplicate {m.key}")
    got[m.key] = (m.partition, m.value, list(m.headers))
    if len(got) == len(sent):
        break
consumer.commit()
committed = sum(consumer.committed(TopicPartition(TOPIC, p)) or 0 for p in range(3))
# Deleting the group: refused while the consumer is a member, done once it has left
# (kafka-python 3 answers {group: "OK" or the error's class name}).
GROUP = f"kp-group-{NAME}"
results = dict(admin.delete_groups([GROUP, f"kp-no-such-group-{NAME}"]))
expect(results[GROUP] == "NonEmptyGroupError", f"delete a group with a member: {results}")
expect(results[f"kp-no-such-group-{NAME}"] == "GroupIdNotFoundError", f"delete an unknown group: {results}")
consumer.close()
expect(len(got) == len(sent), f"group consumed {len(got)} of {len(sent)}")
for key, (value, headers) in sent.items():
    part, v, h = got[key]
    expect(v == value and h == headers and part == partition_for_key(key, 3), f"message {key}: {got[key]}")
expect(committed == len(sent), f"committed offsets sum to {committed}")

results = dict(admin.delete_groups([GROUP]))
expect(results[GROUP] == "OK", f"delete the empty group: {results}")
expect(GROUP not in {g["group_id"] for g in admin.list_groups()}, "the deleted group is not listed")
late = KafkaConsumer(bootstrap_servers=B, group_id=GROUP, enable_auto_commit=False)
gone = [late.committed(TopicPartition(TOPIC, p)) for p in range(3)]
late.close()
expect(gone == [None, None, None], f"the deleted group's offsets are gone: {gone}")

# offsets_for_times on records with explicit timestamps.
base = int(time.time() * 1000) - 100_000
p2 = KafkaProducer(bootstrap_servers=B, acks=1, enable_idempotence=False, compression_type="gzip")
for i in range(50):
    p2.send(TIMED, value=f"t{i}".encode(), timestamp_ms=base + i * 1000)
p2.flush()
c2 = KafkaConsumer(bootstrap_servers=B)
tp = TopicPartition(TIMED, 0)
found = c2.offsets_for_times({tp: base + 20_500})[tp]
expect(found is not None and found.offset == 21 and found.timestamp == base + 21_000, f"offsets_for_times: {found}")
expect(c2.offsets_for_times({tp: base + 10_000_000})[tp] is None, "no record after the last timestamp")
expect(c2.beginning_offsets([tp])[tp] == 0 and c2.end_offsets([tp])[tp] == 50, "beginning/end offsets")
c2.assign([tp])
c2.seek(tp, found.offset)
first = next(iter(c2.poll(timeout_ms=5000).values()))[0]
expect(first.value == b"t21", f"read from the found offset: {first.value}")
c2.close()

# Delete the topics.
admin.delete_topics([TOPIC, TIMED])
deadline = time.time() + 10
while {TOPIC, TIMED} & set(admin.list_topics()) and time.time() < deadline:
    time.sleep(0.2)
expect(not ({TOPIC, TIMED} & set(admin.list_topics())), "deleted topics are gone")
admin.close()
print("kafka-python: admin, default producer, group consumer, offsets_for_times, delete groups checked")
