"""Crash test: `kill -9` a real brook server at random moments while a confluent-kafka producer
(acks=all, idempotent) is producing; after every restart check that

  * the server starts again on the same data directory (recovery needs no manual repair);
  * every record whose delivery was acknowledged is there, at the offset it was acknowledged
    with, with its value — in this round and in every earlier one;
  * no record appears twice, and nothing appears that was never produced.

Records that were written but not acknowledged before the kill may or may not survive; they are
counted ("unacknowledged survivors") but are not an error.

Usage: broker_crash_check.py BROOK_BINARY WORK_DIR ROUNDS [SEED]
"""

import os
import random
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import expect
from txn_util import BrookServer, kill_at_random, read_by_offset

BROOK, WORK, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3])
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time())
rng = random.Random(SEED)
TOPIC, PARTITIONS = "kill-acks-all", 4

os.makedirs(WORK, exist_ok=True)
# The broker's limits with Kafka's names, as an operator would set them.
server = BrookServer(BROOK, os.path.join(WORK, "data"), WORK,
                     extra_args=["--max-connections-per-ip", "200", "--message-max-bytes", "1048588"])

acked = {}      # value -> (partition, offset), for every acknowledged record
produced = set()  # every value ever handed to the producer


def produce_until_killed(round_no, killed):
    """Produces paced records until the server is killed, then waits for every delivery report
    (a record is acknowledged only by a report without error)."""
    p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "message.timeout.ms": 4000, "socket.timeout.ms": 3000,
                  "reconnect.backoff.max.ms": 200, "log_level": 2})

    def report(err, msg):
        if err is None:
            acked[msg.value().decode()] = (msg.partition(), msg.offset())

    n = 0
    while not killed.is_set():
        n += 1
        value = f"r{round_no}-{n}-" + "x" * rng.randint(0, 200)
        produced.add(value)
        while True:
            try:
                p.produce(TOPIC, value=value.encode(), key=str(n).encode(), on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        if n % 50 == 0:
            p.poll(0.005)  # about 10,000 records a second: enough to be mid-batch at the kill
    # Every outstanding record either gets its report (acknowledged before the kill) or fails
    # with a timeout; nothing may be acknowledged later by the restarted server.
    remaining = p.flush(30)
    expect(remaining == 0, f"round {round_no}: {remaining} delivery reports never arrived")
    return n


def verify(round_no):
    stored = read_by_offset(server.bootstrap, TOPIC, PARTITIONS)
    values = list(stored.values())
    expect(len(values) == len(set(values)), f"round {round_no}: a record is stored twice")
    unknown = set(values) - produced
    expect(not unknown, f"round {round_no}: records nobody produced: {sorted(unknown)[:3]}")
    lost = [(v, at) for v, at in acked.items() if stored.get(at) != v]
    expect(not lost, f"round {round_no}: {len(lost)} acknowledged records lost or moved, e.g. {lost[:3]}")
    return len(stored), len(set(values) - set(acked))


server.start()
admin = AdminClient({"bootstrap.servers": server.bootstrap})
for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
    f.result(30)
sent = 0
for round_no in range(1, ROUNDS + 1):
    k, killed = kill_at_random(server, rng)
    sent += produce_until_killed(round_no, killed)
    k.join()
    server.start()  # fails the test if the server does not come back
    stored, survivors = verify(round_no)
    print(f"round {round_no}: {sent} produced, {len(acked)} acknowledged, {stored} stored "
          f"({survivors} unacknowledged survivors); restart {server.starts - 1} ok", flush=True)
server.stop()
expect(len(acked) >= ROUNDS, "the producer made progress")
print(f"broker crash test: {ROUNDS} kill -9 rounds under acks=all (seed {SEED}), {sent} produced, "
      f"{len(acked)} acknowledged: none lost, no duplicates, {server.starts - 1} restarts ok")
