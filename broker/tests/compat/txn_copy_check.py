"""Exactly-once consume-transform-produce with a real client that is killed and restarted:
N input records, a copier process (txn_copier.py) killed with SIGKILL KILLS times — each time
once its committed progress passes a random point of the input, after a further random delay, so
the kill lands mid-stream and usually mid-transaction — and restarted; at the end the output,
read at read_committed, holds every input exactly once.

Usage: txn_copy_check.py BOOTSTRAP NAME N KILLS [SEED]
"""

import os
import random
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import expect
from txn_util import read_to_end

B, NAME, N, KILLS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
SEED = int(sys.argv[5]) if len(sys.argv) > 5 else int(time.time())
rng = random.Random(SEED)
INPUT, OUTPUT, GROUP, PARTS = f"cp-in-{NAME}", f"cp-out-{NAME}", f"cp-g-{NAME}", 3

admin = AdminClient({"bootstrap.servers": B})
for f in admin.create_topics([NewTopic(INPUT, PARTS, 1), NewTopic(OUTPUT, PARTS, 1)]).values():
    f.result(30)
started = time.time()
p = Producer({"bootstrap.servers": B, "enable.idempotence": True, "linger.ms": 20,
              "batch.num.messages": 10000, "queue.buffering.max.messages": 200000})
for i in range(N):
    while True:
        try:
            p.produce(INPUT, key=str(i).encode(), value=str(i).encode(), partition=i % PARTS)
            break
        except BufferError:
            p.poll(0.05)
expect(p.flush(120) == 0, "input written")
print(f"{N} input records written in {time.time() - started:.1f} s", flush=True)


def copier():
    return subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "txn_copier.py"),
                             B, INPUT, OUTPUT, GROUP])


def progress():
    """Inputs committed by the group. read_uncommitted, so librdkafka does not ask for stable
    offsets (require_stable): a killed copier's open transaction would block that until the
    next copier fences it."""
    c = Consumer({"bootstrap.servers": B, "group.id": GROUP, "isolation.level": "read_uncommitted"})
    got = c.committed([TopicPartition(INPUT, q) for q in range(PARTS)], timeout=30)
    c.close()
    return sum(max(tp.offset, 0) for tp in got)


started = time.time()
for k in range(KILLS):
    proc = copier()
    point = min(progress() + rng.uniform(0.02, 0.8 / KILLS) * N, 0.95 * N)
    deadline = time.time() + max(120, N / 2000)
    while progress() < point:
        expect(proc.poll() is None, f"the copier died on its own (exit {proc.returncode})")
        expect(time.time() < deadline, f"the copier stalled at {progress()} of {N}")
        time.sleep(0.1)
    time.sleep(rng.uniform(0.0, 0.5))
    expect(proc.poll() is None, f"the copier died on its own (exit {proc.returncode})")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    print(f"kill {k + 1}: copier killed with {progress()} of {N} inputs committed", flush=True)
proc = copier()
deadline = time.time() + max(120, N / 2000)
while progress() < N:
    expect(proc.poll() is None, f"the copier died on its own (exit {proc.returncode})")
    expect(time.time() < deadline, f"the copier stalled at {progress()} of {N}")
    time.sleep(0.5)
elapsed = time.time() - started
proc.send_signal(signal.SIGKILL)
proc.wait()
out = read_to_end(B, {OUTPUT: PARTS}, "read_committed", timeout=300)
expect(len(out) == N, f"output holds {len(out)} records at read_committed, want {N}")
expect(set(out) == {f"out-{i}" for i in range(N)}, "every input exactly once")
everything = read_to_end(B, {OUTPUT: PARTS}, "read_uncommitted", timeout=300)
print(f"consume-transform-produce: {N} records, copier killed {KILLS} times (seed {SEED}), "
      f"{elapsed:.1f} s; output exactly once at read_committed "
      f"({len(everything) - N} aborted duplicates visible only at read_uncommitted)")
