#!/usr/bin/env python3
"""End-to-end benchmark of issue 27: the user's path, next to DuckDB and PyFlink.

Input: 2 M Nexmark-style JSON bids of about 180 bytes in one file, event time out of order by
up to 5 ms (written by `brook bench e2e`, which generates it when the file does not exist).

Two queries, each run by three systems on the same file, one after the other in every round:

* window -- count and maximum price per auction per 10-second tumbling window, 1 s grace:
    Brook   CREATE TABLE ... AS SELECT auction, COUNT(*), MAX(price) FROM bids
            WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 1 SECOND) GROUP BY auction EMIT FINAL
    DuckDB  GROUP BY auction, date_time // 10000 over read_json(...)
    PyFlink TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND) with
            WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
* filter -- the bids with price > 90000 (about 10 %).

What is timed:

* Brook (`brook bench e2e`): from creating the query until the file source connector has read,
  appended and committed every line into the 2-partition topic and the query has processed all
  of it and written its output topic. One process, embedded broker and SQL engine, as
  `brook sql` runs them. `output_complete_s` is when the output topic last grew.
* DuckDB: one `COPY (query over read_json(file)) TO 'out.csv'` -- batch, all cores.
* PyFlink: the `INSERT INTO` job (streaming mode, parallelism 2, filesystem CSV sink with
  checkpoints every second so its files are committed) from submission until it finishes;
  starting the JVM and the table environment is reported separately.

Each measurement runs in its own process. Medians over the rounds are printed as a Markdown
table, and the window query's rows from each streaming system are compared with DuckDB's:
only windows that a streaming engine must have closed by the end of the input (window end plus
grace at or before the largest event time) are expected from Brook, whose EMIT FINAL windows
close on event time; PyFlink closes every window when its bounded input ends.

Usage: benchmarks/e2e/run.sh [--runs 3] [--events 2000000] [--skip-flink] [--brook NAME=PATH ...]
"""

import argparse
import csv
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WINDOW_MS = 10_000
GRACE_MS = 1_000
PRICE_LIMIT = 90_000

DUCKDB_COLUMNS = (
    "{auction: 'BIGINT', bidder: 'BIGINT', price: 'BIGINT', channel: 'VARCHAR', url: 'VARCHAR', "
    "date_time: 'BIGINT', extra: 'VARCHAR'}"
)
DUCKDB_QUERIES = {
    "window": "SELECT auction, (date_time // {w}) * {w} AS window_start, COUNT(*) AS bids, "
    "MAX(price) AS max_price FROM {src} GROUP BY ALL",
    "filter": "SELECT auction, bidder, price, date_time FROM {src} WHERE price > {limit}",
}

FLINK_SOURCE = """CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, date_time BIGINT,
  extra STRING,
  ts AS TO_TIMESTAMP_LTZ(date_time, 3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""
FLINK_SINKS = {
    "window": "CREATE TABLE out_rows (auction BIGINT, window_start TIMESTAMP(3), bids BIGINT, "
    "max_price BIGINT) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')",
    "filter": "CREATE TABLE out_rows (auction BIGINT, bidder BIGINT, price BIGINT, date_time BIGINT) "
    "WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')",
}
FLINK_QUERIES = {
    "window": "INSERT INTO out_rows SELECT auction, window_start, COUNT(*), MAX(price) "
    "FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
    "GROUP BY auction, window_start, window_end",
    "filter": "INSERT INTO out_rows SELECT auction, bidder, price, date_time FROM bids "
    "WHERE price > {limit}",
}


def run_duckdb(query, input_path, output):
    """One DuckDB measurement (in this process); prints a JSON report."""
    import duckdb

    con = duckdb.connect()
    src = f"read_json('{input_path}', format = 'newline_delimited', columns = {DUCKDB_COLUMNS})"
    sql = DUCKDB_QUERIES[query].format(src=src, w=WINDOW_MS, limit=PRICE_LIMIT)
    start = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{output}' (HEADER)")
    seconds = time.perf_counter() - start
    max_time = con.execute(f"SELECT max(date_time) FROM {src}").fetchone()[0]
    rows = con.execute(f"SELECT count(*) FROM read_csv('{output}')").fetchone()[0]
    print(json.dumps({"seconds": seconds, "output_rows": rows, "max_event_time": max_time,
                      "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}))


def run_flink(query, input_path, output):
    """One PyFlink measurement (in this process); prints a JSON report."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    start = time.perf_counter()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", "2")
    config.set("table.local-time-zone", "UTC")
    config.set("execution.checkpointing.interval", "1s")
    env.execute_sql(FLINK_SOURCE.format(path=input_path))
    env.execute_sql(FLINK_SINKS[query].format(path=output))
    ready = time.perf_counter()
    env.execute_sql(FLINK_QUERIES[query].format(limit=PRICE_LIMIT)).wait()
    done = time.perf_counter()
    print(json.dumps({"seconds": done - ready, "startup_seconds": ready - start}))


def flink_rows(directory, query):
    """Rows of a Flink filesystem CSV sink, as tuples of ints (window start in epoch ms)."""
    rows = []
    for part in sorted(Path(directory).rglob("part-*")):
        if part.name.startswith("."):
            continue
        with open(part, newline="") as f:
            for rec in csv.reader(f):
                if query == "window":
                    ws = datetime.datetime.strptime(rec[1], "%Y-%m-%d %H:%M:%S")
                    ws = int(ws.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
                    rows.append((int(rec[0]), ws, int(rec[2]), int(rec[3])))
                else:
                    rows.append(tuple(int(v) for v in rec))
    return sorted(rows)


def csv_rows(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        return sorted(tuple(int(v) for v in rec) for rec in reader)


def compare_windows(reference, rows, max_event_time, closes_at_end):
    """How a streaming engine's window rows differ from the batch answer."""
    ref = {(r[0], r[1]): (r[2], r[3]) for r in reference}
    got = {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def expected(ws):
        return closes_at_end or ws + WINDOW_MS + GRACE_MS <= max_event_time

    expected_keys = {k for k in ref if expected(k[1])}
    same = sum(1 for k in expected_keys if got.get(k) == ref[k])
    wrong = [k for k in expected_keys if k in got and got[k] != ref[k]]
    missing = [k for k in expected_keys if k not in got]
    extra = [k for k in got if k not in ref]
    low = sum(1 for k in wrong if got[k][0] < ref[k][0])
    lost = sum(ref[k][0] - got[k][0] for k in wrong) + sum(ref[k][0] for k in missing)
    return {
        "expected_rows": len(expected_keys),
        "rows": len(got),
        "identical": same,
        "differing": len(wrong) + len(missing) + len(extra),
        "wrong_values": len(wrong),
        "counts_too_low": low,
        "missing": len(missing),
        "extra": len(extra),
        "bids_missing_from_counts": lost,
        "differing_pct": 100.0 * (len(wrong) + len(missing) + len(extra)) / max(1, len(expected_keys)),
    }


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brook", action="append", default=[], metavar="NAME=PATH",
                   help="a brook binary to measure (repeat to compare builds)")
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--events-per-second", type=int, default=10_000,
                   help="bids per second of event time in the generated input")
    p.add_argument("--runs", type=int, default=3, help="rounds; medians are reported")
    p.add_argument("--queries", default="window,filter")
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--threads", default="1",
                   help="stream threads of Brook's query (ksql.streams.num.stream.threads); "
                        "a list such as 1,2 runs each Brook once per value")
    p.add_argument("--work", default="/tmp/brook-e2e", help="input, outputs and results.json")
    p.add_argument("--skip-flink", action="store_true")
    p.add_argument("--skip-duckdb", action="store_true")
    # One measurement in this process (used by the driver itself).
    p.add_argument("--engine", choices=["duckdb", "flink"], help=argparse.SUPPRESS)
    p.add_argument("--query", help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--output", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.engine == "duckdb":
        return run_duckdb(a.query, a.input, a.output)
    if a.engine == "flink":
        return run_flink(a.query, a.input, a.output)

    named = [b.split("=", 1) if "=" in b else ("brook", b) for b in a.brook]
    if not named:
        sys.exit("give at least one --brook NAME=PATH (run.sh builds one)")
    thread_counts = [int(t) for t in a.threads.split(",")]
    # (name, binary, stream threads); the name says the threads when there are several.
    brooks = [(f"{n} {t}t" if len(thread_counts) > 1 else n, b, t) for n, b in named for t in thread_counts]
    queries = a.queries.split(",")
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    input_path = work / f"bids-{a.events}-{a.events_per_second}ps.json"
    py = sys.executable
    me = os.path.abspath(__file__)

    def brook_cmd(binary, query, output, threads=1):
        return [binary, "bench", "e2e", "--input", str(input_path), "--events", str(a.events),
                "--events-per-second", str(a.events_per_second),
                "--query", query, "--partitions", str(a.partitions), "--output", str(output), "--json"] + (
                    ["--threads", str(threads)] if threads != 1 else [])

    # Generates the input if needed and warms the page cache; not counted.
    print(f"== warm-up (input {input_path})", file=sys.stderr)
    run_json(brook_cmd(brooks[0][1], "filter", work / "warmup.csv"))
    load_before = os.getloadavg()

    results = {}
    extra = {}
    for rnd in range(1, a.runs + 1):
        for q in queries:
            for name, binary, threads in brooks:
                r = run_json(brook_cmd(binary, q, work / f"{name}-{q}.csv", threads))
                results.setdefault((name, q), []).append(r)
                print(f"round {rnd} {name:>8} {q:<6} {r['wall_s']:7.3f} s  "
                      f"(connector {r['connector_s']:.3f} s, output complete {r['output_complete_s']:.3f} s, "
                      f"{r['output_rows']} rows)", file=sys.stderr)
            if not a.skip_duckdb:
                out = work / f"duckdb-{q}.csv"
                r = run_json([py, me, "--engine", "duckdb", "--query", q, "--input", str(input_path),
                              "--output", str(out)])
                results.setdefault(("duckdb", q), []).append(r)
                extra["max_event_time"] = r["max_event_time"]
                print(f"round {rnd}   duckdb {q:<6} {r['seconds']:7.3f} s  ({r['output_rows']} rows)",
                      file=sys.stderr)
            if not a.skip_flink:
                out = work / f"flink-{q}"
                subprocess.run(["rm", "-rf", str(out)], check=True)
                r = run_json([py, me, "--engine", "flink", "--query", q, "--input", str(input_path),
                              "--output", str(out)])
                r["output_rows"] = len(flink_rows(out, q))
                results.setdefault(("pyflink", q), []).append(r)
                print(f"round {rnd}  pyflink {q:<6} {r['seconds']:7.3f} s  (+{r['startup_seconds']:.1f} s "
                      f"startup, {r['output_rows']} rows)", file=sys.stderr)
    load_after = os.getloadavg()

    def seconds(system, q):
        rs = results.get((system, q), [])
        key = "seconds" if system in ("duckdb", "pyflink") else "wall_s"
        return [r[key] for r in rs]

    # The answers, compared with DuckDB's.
    checks = {}
    if not a.skip_duckdb:
        for q in queries:
            reference = csv_rows(work / f"duckdb-{q}.csv")
            systems = [(n, csv_rows(work / f"{n}-{q}.csv"), False) for n, _, _ in brooks]
            if not a.skip_flink:
                systems.append(("pyflink", flink_rows(work / f"flink-{q}", q), True))
            for name, rows, at_end in systems:
                if q == "window":
                    checks[(name, q)] = compare_windows(reference, rows, extra["max_event_time"], at_end)
                else:
                    checks[(name, q)] = {"rows": len(rows), "expected_rows": len(reference),
                                         "differing": len(set(rows) ^ set(reference))}

    lines_per_run = results[(brooks[0][0], queries[0])][0]["lines"]
    print()
    print(f"{lines_per_run} bids ({a.events_per_second} per second of event time), "
          f"{input_path.stat().st_size / 1e6:.0f} MB; {a.runs} rounds; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print()
    print("| query | system | median s (all runs) | vs DuckDB | events/s | notes |")
    print("|---|---|---|---|---|---|")
    for q in queries:
        duck = statistics.median(seconds("duckdb", q)) if not a.skip_duckdb else None
        for system in [n for n, _, _ in brooks] + ["duckdb", "pyflink"]:
            ts = seconds(system, q)
            if not ts:
                continue
            med = statistics.median(ts)
            runs = " / ".join(f"{t:.2f}" for t in ts)
            ratio = f"{med / duck:.2f}×" if duck else ""
            notes = []
            rs = results[(system, q)]
            if system not in ("duckdb", "pyflink"):
                notes.append(f"connector done {statistics.median(r['connector_s'] for r in rs):.2f} s")
                notes.append(f"output complete {statistics.median(r['output_complete_s'] for r in rs):.2f} s")
                notes.append(f"{statistics.median(r['cpu_s'] for r in rs):.1f} CPU-s")
            if system == "pyflink":
                notes.append(f"+{statistics.median(r['startup_seconds'] for r in rs):.1f} s JVM/env startup")
            c = checks.get((system, q))
            if c:
                notes.append(f"{c['differing']} of {c['expected_rows']} rows differ from DuckDB")
            print(f"| {q} | {system} | **{med:.2f}** ({runs}) | {ratio} | "
                  f"{lines_per_run / med / 1e6:.2f} M | {'; '.join(notes)} |")
    for (system, q), c in checks.items():
        if q == "window":
            print(f"\n{system} window rows vs DuckDB: {json.dumps(c)}")

    summary = {
        "events": lines_per_run,
        "runs": a.runs,
        "load_before": load_before,
        "load_after": load_after,
        "results": {f"{s}/{q}": rs for (s, q), rs in results.items()},
        "checks": {f"{s}/{q}": c for (s, q), c in checks.items()},
    }
    (work / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"\n(all measurements in {work / 'results.json'})")


if __name__ == "__main__":
    main()
