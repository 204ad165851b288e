"""Helpers shared by the transaction checks: reading partitions to their end at an isolation
level, and a `brook server` process the crash checks can kill and restart on the same port."""

import os
import re
import signal
import subprocess
import threading
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

from compat_util import expect


def read_records(bootstrap, topics, isolation="read_uncommitted", timeout=60):
    """{(topic, partition, offset): value as str} of every partition of `topics`
    ({name: partitions}), from the beginning to the end, read at `isolation`
    ("read_committed" or "read_uncommitted"), in the order consumed."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"txn-reader-{isolation}",
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 8 << 20})
    parts = [TopicPartition(t, p, 0) for t, n in topics.items() for p in range(n)]
    c.assign(parts)
    open_parts = {(tp.topic, tp.partition) for tp in parts}
    out = {}
    deadline = time.time() + timeout
    while open_parts:
        expect(time.time() < deadline, f"{isolation}: {sorted(open_parts)} did not reach their end")
        for m in c.consume(10000, 0.5):
            if m.error():
                expect(m.error().code() == KafkaError._PARTITION_EOF, f"consume error {m.error()}")
                open_parts.discard((m.topic(), m.partition()))
            else:
                out[(m.topic(), m.partition(), m.offset())] = m.value().decode()
    c.close()
    return out


def read_to_end(bootstrap, topics, isolation, timeout=60):
    """All values (as str) of every partition of `topics`, read at `isolation`."""
    return list(read_records(bootstrap, topics, isolation, timeout).values())


def read_by_offset(bootstrap, topic, partitions, timeout=120):
    """{(partition, offset): value as str} of every partition of `topic`, read to its end."""
    return {(p, o): v for (_, p, o), v in read_records(bootstrap, {topic: partitions}, timeout=timeout).items()}


def kill_at_random(server, rng, low=0.2, high=1.5):
    """Starts a thread that kill -9s `server` after a random delay; returns the thread and an
    event set once the kill happened."""
    killed = threading.Event()

    def killer():
        time.sleep(rng.uniform(low, high))
        server.kill()
        killed.set()

    thread = threading.Thread(target=killer)
    thread.start()
    return thread, killed


def stable_offsets(bootstrap, topics):
    """{(topic, partition): (read_committed end, read_uncommitted end)} by ListOffsets."""
    out = {}
    for isolation in ("read_committed", "read_uncommitted"):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"txn-wm-{isolation}",
                      "isolation.level": isolation})
        for t, n in topics.items():
            for p in range(n):
                hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=30, cached=False)[1]
                out.setdefault((t, p), []).append(hi)
        c.close()
    return {k: tuple(v) for k, v in out.items()}


class BrookServer:
    """A `brook server` process on a data directory; restarts keep the first port it got."""

    def __init__(self, brook, data_dir, log_dir, extra_args=()):
        self.brook, self.data_dir, self.log_dir = brook, data_dir, log_dir
        self.extra_args = list(extra_args)
        self.port = 0
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.starts += 1
        log_path = os.path.join(self.log_dir, f"server-{self.starts}.log")
        log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [self.brook, "server", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
             "--default-partitions", "3", "--no-http", "--flush-interval-ms", "200", *self.extra_args],
            stderr=log, stdout=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            expect(self.proc.poll() is None, f"brook server exited: {open(log_path).read()[-2000:]}")
            found = re.search(r"kafka listener on 127\.0\.0\.1:(\d+)", open(log_path).read())
            if found:
                self.port = int(found.group(1))
                return
            expect(time.time() < deadline, "brook server did not start")
            time.sleep(0.05)

    def kill(self):
        """kill -9."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            expect(self.proc.wait(60) == 0, "brook server exited non-zero on SIGTERM")
        self.proc = None
