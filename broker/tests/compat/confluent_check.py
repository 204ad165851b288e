"""confluent-kafka (librdkafka) checks.

Usage:
  confluent_check.py codecs BOOTSTRAP NAME          idempotent acks=all producer with each codec
  confluent_check.py group-phase1 BOOTSTRAP NAME DIR two consumer processes, a third joins mid-stream
  confluent_check.py group-phase2 BOOTSTRAP NAME DIR after a server restart: resume, exactly once
"""

import glob
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import expect, partition_for_key

MODE, B, NAME = sys.argv[1], sys.argv[2], sys.argv[3]
GROUP_TOPIC, GROUP_PARTS, GROUP_MESSAGES = f"ck-group-{NAME}", 6, 3000


def create(topic, partitions):
    admin = AdminClient({"bootstrap.servers": B})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(30)


def produce(topic, messages, **conf):
    errors = []
    p = Producer({"bootstrap.servers": B, "partitioner": "murmur2_random", "linger.ms": 5, **conf})
    for key, value, headers in messages:
        p.produce(topic, key=key, value=value, headers=headers,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    expect(p.flush(60) == 0, "all messages delivered")
    expect(not errors, f"delivery errors: {errors[:3]}")


def codecs():
    for codec in ["gzip", "snappy", "lz4", "zstd"]:
        topic = f"ck-{codec}-{NAME}"
        create(topic, 3)
        sent = [(f"{codec}-k{i}".encode(), f"{codec}-v{i}".encode() * 20,
                 [("h", b"1"), ("h", b"2"), ("codec", codec.encode())]) for i in range(500)]
        produce(topic, sent, **{"enable.idempotence": True, "acks": "all", "compression.type": codec})
        c = Consumer({"bootstrap.servers": B, "group.id": f"ck-read-{codec}-{NAME}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False, "check.crcs": True})
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        got = {}
        deadline = time.time() + 60
        while len(got) < len(sent) and time.time() < deadline:
            for m in c.consume(500, 1.0):
                expect(m.error() is None, f"consume error {m.error()}")
                expect(m.key() not in got, f"duplicate {m.key()}")
                got[m.key()] = (m.partition(), m.value(), m.headers())
        c.close()
        expect(len(got) == len(sent), f"{codec}: consumed {len(got)} of {len(sent)}")
        for key, value, headers in sent:
            part, v, h = got[key]
            expect(v == value, f"{codec}: value of {key}")
            expect(h == headers, f"{codec}: headers of {key}: {h}")
            expect(part == partition_for_key(key, 3), f"{codec}: {key} on partition {part}")
        print(f"confluent-kafka {codec}: 500 messages, idempotent acks=all, round-tripped")


def start_worker(dir, name):
    out = os.path.join(dir, f"{name}.out")
    return subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "confluent_worker.py"),
                             B, f"ck-group-{NAME}", GROUP_TOPIC, out, os.path.join(dir, "stop")])


def consumed(dir):
    rows = []
    for f in glob.glob(os.path.join(dir, "*.out")):
        with open(f) as fh:
            rows += [line.split() for line in fh if line.startswith("MSG ")]
    return rows


def wait_for(dir, n, procs, timeout=90):
    deadline = time.time() + timeout
    while len(consumed(dir)) < n:
        expect(time.time() < deadline, f"only {len(consumed(dir))} of {n} consumed in time")
        expect(all(p.poll() is None for p in procs), "a consumer process died")
        time.sleep(0.2)


def assignments(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [line.split()[1:] for line in fh if line.startswith("ASSIGN ")]


def wait_until(cond, what, procs, timeout=90):
    deadline = time.time() + timeout
    while True:
        expect(all(p.poll() is None for p in procs), "a consumer process died")
        if cond():
            return
        expect(time.time() < deadline, f"timed out waiting until {what}")
        time.sleep(0.2)


def latest(dir, name):
    a = assignments(os.path.join(dir, f"{name}.out"))
    return a[-1] if a else None


def split_evenly(dir, names):
    current = [latest(dir, n) for n in names]
    if any(a is None for a in current):
        return False
    flat = sorted(int(p) for a in current for p in a)
    return flat == list(range(GROUP_PARTS)) and all(len(a) == GROUP_PARTS // len(names) for a in current)


def group_phase1(dir):
    create(GROUP_TOPIC, GROUP_PARTS)
    produce(GROUP_TOPIC, [(f"g{i}".encode(), f"v{i}".encode(), None) for i in range(GROUP_MESSAGES)],
            **{"enable.idempotence": True, "acks": "all"})
    w1, w2 = start_worker(dir, "w1"), start_worker(dir, "w2")
    wait_until(lambda: split_evenly(dir, ["w1", "w2"]), "two members split six partitions 3/3", [w1, w2])
    wait_for(dir, 300, [w1, w2])
    w3 = start_worker(dir, "w3")
    wait_until(lambda: split_evenly(dir, ["w1", "w2", "w3"]), "three members hold 2 partitions each",
               [w1, w2, w3])
    n_at_join = len(consumed(dir))
    expect(n_at_join < GROUP_MESSAGES, "the third member joined mid-stream")
    wait_for(dir, min(n_at_join + 300, 2000), [w1, w2, w3])
    open(os.path.join(dir, "stop"), "w").close()
    for w in (w1, w2, w3):
        expect(w.wait(60) == 0, "consumer exited cleanly")
    per_worker = {n: sum(1 for l in open(os.path.join(dir, f"{n}.out")) if l.startswith("MSG "))
                  for n in ("w1", "w2", "w3")}
    expect(all(v > 0 for v in per_worker.values()), f"every member consumed: {per_worker}")
    rows = consumed(dir)
    expect(len(rows) < GROUP_MESSAGES, "phase 1 stopped before the end, so the restart has work")
    print(f"confluent-kafka group phase 1: {len(rows)} consumed by {per_worker}; "
          f"third member joined after {n_at_join}")


def group_phase2(dir):
    os.remove(os.path.join(dir, "stop"))
    before = len(consumed(dir))
    w4, w5 = start_worker(dir, "w4"), start_worker(dir, "w5")
    wait_for(dir, GROUP_MESSAGES, [w4, w5])
    time.sleep(2)  # anything consumed twice would show up now
    open(os.path.join(dir, "stop"), "w").close()
    for w in (w4, w5):
        expect(w.wait(60) == 0, "consumer exited cleanly")
    rows = consumed(dir)
    positions = [(int(p), int(o)) for _, p, o, _, _ in rows]
    expect(len(positions) == len(set(positions)), f"{len(positions) - len(set(positions))} messages consumed twice")
    keys = sorted(k for _, _, _, k, _ in rows)
    expect(keys == sorted(f"g{i}" for i in range(GROUP_MESSAGES)), f"every message exactly once ({len(keys)})")
    for _, p, _, k, v in rows:
        expect(int(p) == partition_for_key(k.encode(), GROUP_PARTS) and v == "v" + k[1:], f"row {k}")
    print(f"confluent-kafka group phase 2: resumed after restart with {len(rows) - before} more; "
          f"{GROUP_MESSAGES} messages consumed exactly once")


if MODE == "codecs":
    codecs()
elif MODE == "group-phase1":
    group_phase1(sys.argv[4])
elif MODE == "group-phase2":
    group_phase2(sys.argv[4])
else:
    sys.exit(f"unknown mode {MODE}")
