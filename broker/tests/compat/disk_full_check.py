"""Fault test: the disk fills up under a real brook server while a confluent-kafka producer
(acks=all) produces. The data directory is on a small tmpfs mounted for the test (needs root;
run.sh skips the check, saying so, when it cannot mount). Checks that

  * producers get errors while the disk is full, and the server keeps running;
  * every record acknowledged before, during and after the full disk is stored, at its offset;
  * after space is freed the same server process accepts and serves records again, without a
    restart or any manual repair; and a restart afterwards recovers everything acknowledged.

Usage: disk_full_check.py BROOK_BINARY WORK_DIR
"""

import os
import subprocess
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import expect
from txn_util import BrookServer, read_by_offset

BROOK, WORK = sys.argv[1], sys.argv[2]
TOPIC = "disk-full"
MNT = os.path.join(WORK, "mnt")
os.makedirs(MNT, exist_ok=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", MNT], check=True)
try:
    server = BrookServer(BROOK, os.path.join(MNT, "data"), WORK)
    acked = {}
    errors = []

    def produce(tag, n, timeout_ms=6000):
        """Produces n records of 1 KiB with acks=all; returns (acknowledged, failed)."""
        p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "linger.ms": 5,
                      "message.timeout.ms": timeout_ms, "retry.backoff.ms": 200, "log_level": 0})
        counts = [0, 0]

        def report(err, msg):
            if err is None:
                acked[msg.value().decode()] = (msg.partition(), msg.offset())
                counts[0] += 1
            else:
                errors.append(err)
                counts[1] += 1

        for i in range(n):
            value = f"{tag}-{i}-" + "d" * 1000
            while True:
                try:
                    p.produce(TOPIC, value=value.encode(), partition=i % 2, on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 100 == 0:
                p.poll(0)
        expect(p.flush(60) == 0, f"{tag}: delivery reports missing")
        return tuple(counts)

    def verify(when):
        stored = read_by_offset(server.bootstrap, TOPIC, 2, timeout=60)
        lost = [v for v, at in acked.items() if stored.get(at) != v]
        expect(not lost, f"{when}: {len(lost)} acknowledged records lost, e.g. {lost[:2]}")
        return len(stored)

    server.start()
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 2, 1)]).values():
        f.result(30)
    ok, failed = produce("before", 2000)
    expect(failed == 0, f"before the disk fills: {failed} records failed")
    # Fill the disk with a file we can delete later.
    filler = os.path.join(MNT, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    ok_full, failed_full = produce("full", 3000, timeout_ms=4000)
    expect(failed_full > 0, "no producer error while the disk was full")
    expect(server.proc.poll() is None, "the server exited when the disk filled")
    stored_full = verify("disk full")
    # Free the space: the same process must serve again.
    os.remove(filler)
    ok_after, failed_after = produce("after", 2000)
    expect(failed_after == 0, f"after space was freed: {failed_after} records failed ({errors[-1:]})")
    expect(server.proc.poll() is None, "the server exited")
    stored_after = verify("space freed")
    server.stop()
    server.start()
    stored_restart = verify("after a restart")
    server.stop()
    codes = sorted({e.name() for e in errors})
    print(f"disk-full test: {ok} acked before; while full {ok_full} acked, {failed_full} failed ({', '.join(codes)}); "
          f"after freeing space {ok_after} acked, 0 failed, no restart; {len(acked)} acknowledged records all stored "
          f"(stored: {stored_full} while full, {stored_after} after, {stored_restart} after a restart)")
finally:
    if server.proc and server.proc.poll() is None:
        server.kill()
    subprocess.run(["umount", "-l", MNT])
