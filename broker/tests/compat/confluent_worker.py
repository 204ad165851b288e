"""One consumer-group member for confluent_check.py.

Writes `ASSIGN p...` on every assignment and `MSG partition offset key value` per message to
OUT, committing synchronously after each batch (before polling again, so a rebalance never
finds uncommitted work). Exits cleanly (committed, leaving the group) as soon as the file STOP exists.

Usage: confluent_worker.py BOOTSTRAP GROUP TOPIC OUT STOP
"""

import os
import sys
import time

from confluent_kafka import Consumer

B, GROUP, TOPIC, OUT, STOP = sys.argv[1:6]
out = open(OUT, "a", buffering=1)


def on_assign(consumer, partitions):
    out.write("ASSIGN " + " ".join(str(p.partition) for p in sorted(partitions, key=lambda p: p.partition)) + "\n")


c = Consumer({"bootstrap.servers": B, "group.id": GROUP, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
              "partition.assignment.strategy": "range"})
c.subscribe([TOPIC], on_assign=on_assign)
while True:
    msgs = c.consume(10, 0.5)
    batch = [m for m in msgs if m.error() is None]
    for m in msgs:
        if m.error() is not None:
            print(f"consume error: {m.error()}", file=sys.stderr)
    if batch:
        for m in batch:
            out.write(f"MSG {m.partition()} {m.offset()} {m.key().decode()} {m.value().decode()}\n")
        c.commit(asynchronous=False)
        time.sleep(0.05)  # a steady pace, so the third member joins mid-stream
    if os.path.exists(STOP):
        break
c.close()
out.close()
