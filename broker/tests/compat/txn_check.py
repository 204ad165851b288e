"""confluent-kafka (librdkafka) transactions against a real brook server.

A transactional producer commits and aborts across 3 partitions of each of 2 topics, sending a
consumer group's offsets in each transaction (send_offsets_to_transaction): a read_committed
consumer sees exactly the committed records, a read_uncommitted one sees all, and the group's
committed offsets are those of the last committed transaction. A second producer with the same
transactional.id fences the first, whose commit then fails with a fatal error.

Usage: txn_check.py BOOTSTRAP NAME
"""

import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import expect
from txn_util import read_to_end, stable_offsets

B, NAME = sys.argv[1], sys.argv[2]
TOPICS = {f"ck-txa-{NAME}": 3, f"ck-txb-{NAME}": 3}
INPUT, GROUP = f"ck-txin-{NAME}", f"ck-txg-{NAME}"


def create():
    admin = AdminClient({"bootstrap.servers": B})
    for f in admin.create_topics([NewTopic(t, n, 1) for t, n in {**TOPICS, INPUT: 3}.items()]).values():
        f.result(30)


def producer(txn_id):
    p = Producer({"bootstrap.servers": B, "transactional.id": txn_id, "linger.ms": 5})
    p.init_transactions(30)
    return p


def send(p, prefix, n):
    names = list(TOPICS)
    for i in range(n):
        p.produce(names[i % 2], value=f"{prefix}-{i}".encode(), partition=(i // 2) % 3)
    expect(p.flush(30) == 0, "flushed")


def offsets(base):
    return [TopicPartition(INPUT, p, base + p) for p in range(3)]


def transactions():
    group_consumer = Consumer({"bootstrap.servers": B, "group.id": GROUP, "enable.auto.commit": False})
    meta = group_consumer.consumer_group_metadata()
    p = producer(f"ck-tx-{NAME}")
    for prefix, base, commit in [("c1", 10, True), ("ab", 20, False), ("c2", 30, True), ("ab2", 40, False)]:
        p.begin_transaction()
        send(p, prefix, 60)
        p.send_offsets_to_transaction(offsets(base), meta, 30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    committed = read_to_end(B, TOPICS, "read_committed")
    want = {f"c1-{i}" for i in range(60)} | {f"c2-{i}" for i in range(60)}
    expect(len(committed) == len(want) and set(committed) == want,
           f"read_committed sees exactly the committed records ({len(committed)} read)")
    everything = read_to_end(B, TOPICS, "read_uncommitted")
    expect(len(everything) == 240, f"read_uncommitted sees all 240 records, got {len(everything)}")
    got = group_consumer.committed([TopicPartition(INPUT, q) for q in range(3)], timeout=30)
    expect([tp.offset for tp in got] == [30, 31, 32],
           f"the group's offsets are the last committed transaction's: {[tp.offset for tp in got]}")
    group_consumer.close()
    for tp, (committed_end, end) in stable_offsets(B, TOPICS).items():
        expect(committed_end == end, f"{tp}: LSO {committed_end} caught up with the end {end}")
    return p


def fencing():
    first = producer(f"ck-fence-{NAME}")
    first.begin_transaction()
    send(first, "zombie", 12)
    second = producer(f"ck-fence-{NAME}")
    try:
        first.commit_transaction(30)
        expect(False, "the fenced producer's commit succeeded")
    except KafkaException as e:
        err = e.args[0]
        expect(err.fatal(), f"fencing is fatal: {err}")
        expect(err.name() in ("_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"), f"fenced error: {err}")
    second.begin_transaction()
    send(second, "heir", 6)
    second.commit_transaction(30)
    committed = read_to_end(B, TOPICS, "read_committed")
    expect(not any(v.startswith("zombie-") for v in committed), "the fenced transaction was aborted")
    expect(sum(v.startswith("heir-") for v in committed) == 6, "the new producer's transaction committed")


create()
transactions()
fencing()
print("confluent-kafka transactions: commit/abort over 6 partitions of 2 topics with group offsets, "
      "read_committed/read_uncommitted, fencing")
