"""Crash test: `kill -9` a real brook server at random moments while a transactional producer
(confluent-kafka) loops over commit and abort; after every restart check that

  * every transaction whose commit was acknowledged is fully visible at read_committed, once;
  * nothing of a transaction that was aborted, or never asked to commit, is visible;
  * a transaction whose commit was in flight at the crash is all-or-nothing;
  * every partition's last stable offset equals its end (no LSO stuck) once the producer is
    back (its InitProducerId fences and aborts what it left open).

Usage: txn_crash_check.py BROOK_BINARY WORK_DIR ROUNDS [SEED]
"""

import os
import random
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import expect
from txn_util import BrookServer, kill_at_random, read_to_end, stable_offsets

BROOK, WORK, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3])
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time())
rng = random.Random(SEED)
TOPICS = {"crash-a": 3, "crash-b": 2}
PARTS = [(t, p) for t, n in TOPICS.items() for p in range(n)]
TXN_ID = "crash-producer"

os.makedirs(WORK, exist_ok=True)
server = BrookServer(BROOK, os.path.join(WORK, "data"), WORK)

# txn number -> (values, status): status is "committed" (acknowledged), "aborted"
# (acknowledged, or never asked to commit) or "in-doubt" (commit asked, no answer).
txns = {}


def new_producer():
    p = Producer({"bootstrap.servers": server.bootstrap, "transactional.id": TXN_ID,
                  "transaction.timeout.ms": 60000, "linger.ms": 2, "message.timeout.ms": 8000,
                  "socket.timeout.ms": 5000, "reconnect.backoff.max.ms": 200,
                  "log_level": 2})
    p.init_transactions(30)
    return p


def run_transactions(p, round_no, killed):
    """Commits and aborts until the server is killed; returns how many transactions it began."""
    n = 0
    while not killed.is_set():
        n += 1
        txn = f"{round_no}-{n}"
        commit = rng.random() < 0.6
        values = [f"{txn}-{i}" for i in range(rng.randint(1, 12))]
        txns[txn] = (values, "aborted")
        try:
            p.begin_transaction()
            for i, v in enumerate(values):
                t, part = PARTS[(n + i) % len(PARTS)]
                p.produce(t, value=v.encode(), partition=part)
            if commit:
                txns[txn] = (values, "in-doubt")
                p.commit_transaction(3)
                txns[txn] = (values, "committed")
            else:
                p.abort_transaction(3)
        except KafkaException:
            return n
    return n


def verify(round_no):
    committed = read_to_end(server.bootstrap, TOPICS, "read_committed")
    seen = {}
    for v in committed:
        txn = v.rsplit("-", 1)[0]
        seen.setdefault(txn, []).append(v)
    expect(len(committed) == len(set(committed)), f"round {round_no}: a committed record appears twice")
    lost = in_doubt = 0
    for txn, (values, status) in txns.items():
        got = sorted(seen.get(txn, []))
        if status == "committed":
            expect(got == sorted(values), f"round {round_no}: committed transaction {txn} lost records: {got}")
        elif status == "aborted":
            expect(not got, f"round {round_no}: aborted transaction {txn} is visible: {got}")
        else:
            in_doubt += 1
            expect(got in ([], sorted(values)), f"round {round_no}: transaction {txn} half committed: {got}")
            lost += not got
    unknown = set(seen) - set(txns)
    expect(not unknown, f"round {round_no}: records of unknown transactions {sorted(unknown)[:3]}")
    for tp, (stable, end) in stable_offsets(server.bootstrap, TOPICS).items():
        expect(stable == end, f"round {round_no}: {tp} LSO stuck at {stable}, end {end}")
    return len(committed), in_doubt


server.start()
admin = AdminClient({"bootstrap.servers": server.bootstrap})
for f in admin.create_topics([NewTopic(t, n, 1) for t, n in TOPICS.items()]).values():
    f.result(30)
began = 0
for round_no in range(1, ROUNDS + 1):
    producer = new_producer()
    k, killed = kill_at_random(server, rng)
    began += run_transactions(producer, round_no, killed)
    k.join()
    del producer
    server.start()
    # The producer comes back: its InitProducerId fences the old epoch and aborts its open txn.
    new_producer().flush(1)
    records, in_doubt = verify(round_no)
    statuses = [s for _, s in txns.values()]
    print(f"round {round_no}: {len(txns)} transactions so far ({statuses.count('committed')} committed, "
          f"{statuses.count('aborted')} aborted, {statuses.count('in-doubt')} in doubt); "
          f"{records} committed records verified", flush=True)
server.stop()
statuses = [s for _, s in txns.values()]
expect(statuses.count("committed") >= ROUNDS, "the producer made progress")
print(f"transaction crash test: {ROUNDS} kill -9 rounds (seed {SEED}), {len(txns)} transactions "
      f"({statuses.count('committed')} committed, {statuses.count('aborted')} aborted, "
      f"{statuses.count('in-doubt')} in doubt): no acknowledged commit lost, no aborted record visible, no LSO stuck")
