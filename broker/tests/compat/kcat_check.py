"""kcat checks: metadata listing, keyed produce, consume-all, consumer-group mode, murmur2 placement.

Usage: kcat_check.py BOOTSTRAP NAME   (NAME keeps topic and group names unique per run)
"""

import json
import subprocess
import sys

from compat_util import expect, partition_for_key

B, NAME = sys.argv[1], sys.argv[2]
TOPIC = f"kcat-{NAME}"
PARTS = 4  # the server runs with --default-partitions 4: kcat relies on auto-creation


def kcat(*args, stdin=None, timeout=60):
    r = subprocess.run(["kcat", "-b", B, *args], input=stdin, capture_output=True, timeout=timeout)
    expect(r.returncode == 0, f"kcat {' '.join(args)} exited {r.returncode}: {r.stderr.decode()[-2000:]}")
    return r.stdout.decode()


# 1. Metadata listing: this broker, at the advertised address, and the topic list.
md = json.loads(kcat("-L", "-J"))
host, port = B.rsplit(":", 1)
expect(len(md["brokers"]) == 1, f"one broker in {md['brokers']}")
expect(md["brokers"][0]["name"] == f"{host}:{port}", f"advertised address {md['brokers'][0]}")
expect(any(t["topic"] == "__consumer_offsets" for t in md["topics"]), "internal topic listed")

# 2. Produce keyed messages (auto-creates the topic) with Kafka's murmur2 partitioner.
messages = [(f"key-{i}", f"value-{i}") for i in range(200)]
payload = "".join(f"{k}:{v}\n" for k, v in messages).encode()
kcat("-P", "-t", TOPIC, "-K:", "-X", "partitioner=murmur2_random", "-X", "acks=all", "-H", "origin=kcat",
     stdin=payload)

md = json.loads(kcat("-L", "-J", "-t", TOPIC))
topic_md = [t for t in md["topics"] if t["topic"] == TOPIC][0]
expect(len(topic_md["partitions"]) == PARTS, f"auto-created with {PARTS} partitions: {topic_md}")

# 3. Consume everything back: keys, values, headers, and the partition each key landed on.
out = kcat("-C", "-t", TOPIC, "-o", "beginning", "-e", "-q", "-f", "%p\t%k\t%s\t%h\n")
rows = [line.split("\t") for line in out.splitlines() if line]
expect(len(rows) == len(messages), f"consumed {len(rows)} of {len(messages)}")
seen = {}
for p, k, v, h in rows:
    expect(k not in seen, f"key {k} consumed twice")
    seen[k] = v
    want = partition_for_key(k.encode(), PARTS)
    expect(int(p) == want, f"key {k} on partition {p}, murmur2 says {want}")
    expect(h == "origin=kcat", f"headers of {k}: {h!r}")
expect(seen == dict(messages), "keys and values round-trip")

# 4. Consumer-group mode: a group reads everything once; a second run of the group gets nothing.
group = f"kcat-group-{NAME}"
out = kcat("-G", group, "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%k\n", TOPIC, timeout=120)
keys = [line for line in out.splitlines() if line]
expect(sorted(keys) == sorted(k for k, _ in messages), f"group consumed {len(keys)} of {len(messages)}")
more = [(f"late-{i}", "late") for i in range(20)]
kcat("-P", "-t", TOPIC, "-K:", "-X", "partitioner=murmur2_random",
     stdin="".join(f"{k}:{v}\n" for k, v in more).encode())
out = kcat("-G", group, "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%k\n", TOPIC, timeout=120)
keys = [line for line in out.splitlines() if line]
expect(sorted(keys) == sorted(k for k, _ in more), f"group resumed from its commits, got {keys[:5]}... ({len(keys)})")

# 5. Offset queries: earliest and latest per partition.
counts = {}
for k, _ in messages + more:
    p = partition_for_key(k.encode(), PARTS)
    counts[p] = counts.get(p, 0) + 1
for p in range(PARTS):
    out = kcat("-Q", "-t", f"{TOPIC}:{p}:-1")
    expect(out.split()[-1] == str(counts.get(p, 0)), f"latest offset of partition {p}: {out!r}")
print(f"kcat: {len(messages) + len(more)} messages checked")
