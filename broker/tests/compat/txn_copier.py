"""A consume-transform-produce copier (exactly-once): reads INPUT at read_committed in group
GROUP, writes `out-<value>` to OUTPUT with the input key, and commits the consumed offsets in
the same transaction (send_offsets_to_transaction). Any error ends the process; the driver
restarts it. Its fixed transactional.id makes each new incarnation fence the previous one.

Usage: txn_copier.py BOOTSTRAP INPUT OUTPUT GROUP
"""

import sys

from confluent_kafka import Consumer, Producer

B, INPUT, OUTPUT, GROUP = sys.argv[1:5]

producer = Producer({"bootstrap.servers": B, "transactional.id": f"{GROUP}-copier", "linger.ms": 5,
                     "transaction.timeout.ms": 30000})
# First fence any previous incarnation (aborting its open transaction and its pending offsets),
# then join the group, so the offsets read are those of the last committed transaction.
producer.init_transactions(60)
consumer = Consumer({"bootstrap.servers": B, "group.id": GROUP, "isolation.level": "read_committed",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
consumer.subscribe([INPUT])
while True:
    batch = consumer.consume(2000, 0.2)
    if not batch:
        continue
    producer.begin_transaction()
    for m in batch:
        if m.error():
            raise SystemExit(f"consume error: {m.error()}")
        producer.produce(OUTPUT, key=m.key(), value=b"out-" + m.value(), partition=m.partition())
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                         consumer.consumer_group_metadata(), 60)
    producer.commit_transaction(60)
