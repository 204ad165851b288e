"""Load test: many idle connections next to many active producers against one real brook
server, with connection limits configured. Checks that

  * every idle connection is accepted and served (an ApiVersions round trip), and stays open;
  * the active producers (`brook bench produce --producers N`, librdkafka) keep at least half
    the throughput they had without the idle connections (within 2x);
  * the server's memory grows by a bounded amount per idle connection;
  * max.connections holds: connections beyond it are not served while the others are open.

Usage: load_check.py BROOK_BINARY WORK_DIR IDLE PRODUCERS COUNT
"""

import json
import os
import socket
import subprocess
import sys
import time

from compat_util import expect
from txn_util import BrookServer

BROOK, WORK = sys.argv[1], sys.argv[2]
IDLE, PRODUCERS, COUNT = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# Room for the idle connections, every producer's connections and the bench's own clients.
LIMIT = IDLE + 4 * PRODUCERS + 50
os.makedirs(WORK, exist_ok=True)
server = BrookServer(BROOK, os.path.join(WORK, "data"), WORK,
                     extra_args=["--max-connections", str(LIMIT), "--max-connections-per-ip", str(LIMIT)])

API_VERSIONS_V0 = (10).to_bytes(4, "big") + (18).to_bytes(2, "big") + (0).to_bytes(2, "big") \
    + (7).to_bytes(4, "big") + (-1).to_bytes(2, "big", signed=True)


def served(sock, timeout):
    """Sends ApiVersions v0 and waits up to `timeout` s for the whole reply."""
    sock.settimeout(timeout)
    try:
        sock.sendall(API_VERSIONS_V0)
        size = b""
        while len(size) < 4:
            chunk = sock.recv(4 - len(size))
            if not chunk:
                return False
            size += chunk
        want = int.from_bytes(size, "big")
        got = 0
        while got < want:
            chunk = sock.recv(want - got)
            if not chunk:
                return False
            got += len(chunk)
        return True
    except OSError:
        return False


def rss_kib():
    """The server's resident memory now, in KiB."""
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench(topic):
    out = subprocess.run([BROOK, "bench", "produce", "--bootstrap", server.bootstrap, "--topic", topic,
                          "--producers", str(PRODUCERS), "--count", str(COUNT), "--message-size", "100",
                          "--acks", "1", "--latency-rate", "0", "--json"],
                         capture_output=True, text=True, timeout=600)
    expect(out.returncode == 0, f"brook bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["mb_per_s"]


def open_idle():
    conns = []
    for _ in range(IDLE):
        s = socket.create_connection(("127.0.0.1", server.port))
        expect(served(s, 10), f"idle connection {len(conns) + 1} was not served")
        conns.append(s)
    return conns


server.start()
# Memory of the idle connections alone, on a fresh server.
rss_start = rss_kib()
idle = open_idle()
time.sleep(0.5)
rss_idle = rss_kib()
for s in idle:
    s.close()
unloaded = bench("load-unloaded")
idle = open_idle()
loaded = bench("load-loaded")
rss_loaded = rss_kib()
expect(server.proc.poll() is None, "the server exited under load")
expect(all(served(s, 10) for s in idle[:50]), "idle connections stopped being served")
# max.connections: fill up to the limit, then one more must wait unserved.
fill = []
while len(idle) + len(fill) < LIMIT:
    s = socket.create_connection(("127.0.0.1", server.port))
    fill.append(s)
expect(all(served(s, 10) for s in fill), "connections below max.connections were not served")
extra = socket.create_connection(("127.0.0.1", server.port))
expect(not served(extra, 1.5), f"a connection beyond max.connections={LIMIT} was served")
fill.pop().close()
expect(served(extra, 10), "the waiting connection was not served after another one closed")
per_idle = (rss_idle - rss_start) * 1024 / max(IDLE, 1)
expect(per_idle < 64 * 1024, f"{per_idle / 1024:.1f} KiB of server memory per idle connection")
expect(loaded >= unloaded / 2, f"producers slowed more than 2x by {IDLE} idle connections: "
       f"{loaded:.1f} vs {unloaded:.1f} MB/s")
for s in idle + fill + [extra]:
    s.close()
server.stop()
print(f"load test: {IDLE} idle connections + {PRODUCERS} producers ({COUNT} x 100 B, acks=1): "
      f"{loaded:.1f} MB/s vs {unloaded:.1f} MB/s without the idle connections ({loaded / unloaded:.2f}x); "
      f"server RSS {rss_start // 1024} MiB fresh, {rss_idle // 1024} MiB with the idle connections alone "
      f"({per_idle / 1024:.1f} KiB each), {rss_loaded // 1024} MiB after the loaded run; "
      f"max.connections={LIMIT} held (the next connection waited, served once one closed)")
