"""Regenerates the fuzz seed corpora from real clients and real batches.

  python3 fuzz/capture_corpus.py BROOK_BINARY

* corpus/kafka_request: every request frame (without its size prefix) that confluent-kafka
  (librdkafka) sends while it administers, produces (all four codecs, idempotent and
  transactional), consumes in a group and deletes that group, captured by a proxy between it and a real
  `brook server` (which advertises the proxy's address).
* corpus/record_batch: the record batches inside the captured Produce requests (found by their
  magic byte and CRC-32C).
* corpus/segment_recovery: segment files the server wrote during the capture, cut to a few
  hundred KiB.
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

BROOK = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
frames = []


def save(kind, data):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def pump(src, dst, record=False):
    """Copies src to dst until either closes; with `record`, keeps each size-prefixed frame."""
    buf = b""
    while True:
        try:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
        except OSError:
            break
        while record:
            buf += chunk
            chunk = b""
            if len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
                break
            size = int.from_bytes(buf[:4], "big")
            frames.append(buf[4:4 + size])
            buf = buf[4 + size:]
    dst.close()


def proxy(listener, upstream):
    while True:
        client, _ = listener.accept()
        server = socket.create_connection(upstream)
        threading.Thread(target=pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=pump, args=(server, client), daemon=True).start()


work = tempfile.mkdtemp()
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
proxy_port = listener.getsockname()[1]
log = open(os.path.join(work, "server.log"), "w")
proc = subprocess.Popen([BROOK, "server", "--data-dir", os.path.join(work, "data"), "--listen", "127.0.0.1:0",
                         "--advertised-listener", f"127.0.0.1:{proxy_port}", "--no-http"],
                        stderr=log, stdout=subprocess.DEVNULL)
try:
    for _ in range(300):
        m = re.search(r"kafka listener on 127\.0\.0\.1:(\d+)", open(os.path.join(work, "server.log")).read())
        if m:
            break
        time.sleep(0.1)
    threading.Thread(target=proxy, args=(listener, ("127.0.0.1", int(m.group(1)))), daemon=True).start()
    B = {"bootstrap.servers": f"127.0.0.1:{proxy_port}"}
    admin = AdminClient(B)
    for f in admin.create_topics([NewTopic("fuzz", 2, 1),
                                  NewTopic("fuzz-compact", 1, 1, config={"cleanup.policy": "compact"})]).values():
        f.result(30)
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer({**B, "compression.type": codec, "enable.idempotence": True, "linger.ms": 20})
        for i in range(30):
            p.produce("fuzz", key=f"k{i}".encode(), value=(f"{codec}-{i}-" + "v" * (i * 7)).encode(),
                      headers=[("h", b"1"), ("h", b"2")])
            p.produce("fuzz-compact", key=f"k{i % 5}".encode(), value=f"{codec}-{i}".encode())
        p.flush(30)
    t = Producer({**B, "transactional.id": "fuzz-txn"})
    t.init_transactions(30)
    t.begin_transaction()
    t.produce("fuzz", value=b"in a transaction")
    t.commit_transaction(30)
    c = Consumer({**B, "group.id": "fuzz-group", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["fuzz"])
    got = 0
    deadline = time.time() + 30
    while got < 100 and time.time() < deadline:
        got += len([m for m in c.consume(100, 1.0) if not m.error()])
    c.commit(asynchronous=False)
    c.close()
    # DeleteGroups: the group (now empty) and one that does not exist.
    for f in admin.delete_consumer_groups(["fuzz-group", "fuzz-no-such-group"]).values():
        try:
            f.result(30)
        except Exception:
            pass
    time.sleep(0.5)
finally:
    proc.terminate()
    proc.wait(30)
for kind in ["kafka_request", "record_batch", "segment_recovery"]:
    shutil.rmtree(os.path.join(CORPUS, kind), ignore_errors=True)
for frame in frames:
    save("kafka_request", frame)
    # Record batches: magic 2 at offset 16 of a batch; keep the ones whose length fits.
    for at in range(len(frame) - 61):
        if frame[at + 16] != 2:
            continue
        length = int.from_bytes(frame[at + 8:at + 12], "big")
        if 49 <= length <= len(frame) - at - 12:
            save("record_batch", frame[at:at + 12 + length])
for root, _, files in os.walk(os.path.join(work, "data")):
    for name in files:
        if name.endswith(".log"):
            data = open(os.path.join(root, name), "rb").read()[:256 * 1024]
            if data:
                save("segment_recovery", data)
shutil.rmtree(work)
print({k: len(os.listdir(os.path.join(CORPUS, k))) for k in os.listdir(CORPUS)})
