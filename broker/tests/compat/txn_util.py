"""Helpers shared by the transaction checks: reading partitions to their end at an isolation
level, and a `brook server` process the crash checks can kill and restart on the same port."""

import os
import re
import signal
import subprocess
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

from compat_util import expect


def read_to_end(bootstrap, topics, isolation, timeout=60):
    """All values (as str) of every partition of `topics` ({name: partitions}), from the
    beginning to the end, read at `isolation` ("read_committed" or "read_uncommitted")."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"txn-reader-{isolation}",
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    parts = [TopicPartition(t, p, 0) for t, n in topics.items() for p in range(n)]
    c.assign(parts)
    open_parts = {(tp.topic, tp.partition) for tp in parts}
    values = []
    deadline = time.time() + timeout
    while open_parts:
        expect(time.time() < deadline, f"{isolation}: {sorted(open_parts)} did not reach their end")
        for m in c.consume(1000, 0.5):
            if m.error():
                expect(m.error().code() == KafkaError._PARTITION_EOF, f"consume error {m.error()}")
                open_parts.discard((m.topic(), m.partition()))
            else:
                values.append(m.value().decode())
    c.close()
    return values


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
