"""Latency the hardened execution path adds to ordinary queries.

    python bench/execute_latency.py                 # a generated 10,000-ship DuckDB warehouse
    python bench/execute_latency.py --db FILE.duckdb --queries my_queries.sql --repeat 200

Compares, per query, on the same DuckDB file:
  in-process  the guard (same allow-lists) + a read-only sandboxed DuckDB cursor in this process,
              stopped by interrupt() (the execution path before sandbox worker processes)
  hardened    `Warehouse.execute`: the guard and the query in a sandbox worker process (address-
              space cap, killed when late), one round trip over a local socket
and prints p50/p95 of each and the added latency, then the one-off costs: opening the warehouse
(starting its workers) and the first answer after a query was killed (a spare takes over).
Figures only; nothing is asserted. As root it raises its own and its workers' scheduling
priority (Linux autogroup), so other load on the machine disturbs the figures less.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _machine import cpu_name  # bench/ is on sys.path when a bench script runs

QUERIES = [
    "SELECT count(*) FROM ships",
    "SELECT name, tonnage FROM ships ORDER BY tonnage DESC LIMIT 5",
    "SELECT home_port, avg(tonnage) AS avg_tonnage FROM ships GROUP BY home_port ORDER BY 1",
    "SELECT p.country, count(*) AS n FROM ships s JOIN ports p ON p.id = s.home_port GROUP BY 1 ORDER BY 1",
    "SELECT id, name FROM ships WHERE name LIKE 'ship 1%' ORDER BY id LIMIT 20",
]


def boost(pid: int) -> None:
    """Raise the scheduling priority of `pid`'s autogroup (root only; ignored elsewhere)."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text("-10")
    except OSError:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class InProcess:
    """The old path: guard here, then a cursor on one sandboxed read-only connection, interrupt() on time."""

    def __init__(self, path: str, memory_limit: str):
        import duckdb

        self.connection = duckdb.connect(path, read_only=True, config={
            "memory_limit": memory_limit, "threads": 1,
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        })
        self.connection.execute("SET temp_directory = ''")
        self.connection.execute("SET enable_external_access = false")
        self.connection.execute("SET lock_configuration = true")

    def execute(self, sql: str, max_rows: int = 10_000, timeout_s: float = 10.0):
        from sqltune.execution.guard import check_sql

        verdict = check_sql(sql, "duckdb")
        if not verdict.ok:
            raise RuntimeError(verdict.reason)
        cursor = self.connection.cursor()
        timer = threading.Timer(timeout_s, cursor.interrupt)
        timer.start()
        try:
            cursor.execute(sql)
            return cursor.fetchmany(max_rows + 1)
        finally:
            timer.cancel()
            cursor.close()


def time_calls(fn, sql: str, repeat: int) -> list[float]:
    fn(sql)  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(sql)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=None, help="A DuckDB file (default: a generated demo warehouse).")
    parser.add_argument("--queries", default=None, help="A file of queries, one per line (default: five ordinary ones).")
    parser.add_argument("--repeat", type=int, default=100, help="Timed runs of each query on each path.")
    parser.add_argument("--memory-limit", default="1GB")
    args = parser.parse_args(argv)

    from sqltune.execution.execute import Warehouse
    from sqltune.execution.guard import warm
    from sqltune.serve.testing import build_demo_warehouse

    boost(os.getpid())
    queries = [q.strip() for q in Path(args.queries).read_text().splitlines() if q.strip()] if args.queries else QUERIES
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(build_demo_warehouse(Path(tmp) / "bench.duckdb", rows=10_000))
        warm("duckdb")
        started = time.perf_counter()
        warehouse = Warehouse.open(db, memory_limit=args.memory_limit, processes=2)
        open_s = time.perf_counter() - started
        for pid in warehouse.worker_pids:
            boost(pid)
        old = InProcess(db, args.memory_limit)

        print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores), load average {os.getloadavg()[0]:.1f}; "
              f"Python {platform.python_version()}; {args.repeat} timed runs per query and path")
        print(f"{'query':<60} {'in-process p50/p95 ms':>22} {'hardened p50/p95 ms':>20} {'added p50 ms':>13}")
        added, old_all, new_all = [], [], []
        for sql in queries:
            before = time_calls(old.execute, sql, args.repeat)
            after = time_calls(lambda s: warehouse.execute(s).rows, sql, args.repeat)
            result = warehouse.execute(sql)
            if not result.ok:
                print(f"  {sql[:58]}: {result.error_kind}: {result.error}", file=sys.stderr)
            old_all += before
            new_all += after
            added.append(statistics.median(after) - statistics.median(before))
            print(f"{sql[:60]:<60} {statistics.median(before):>10.2f} / {percentile(before, 0.95):<9.2f}"
                  f" {statistics.median(after):>9.2f} / {percentile(after, 0.95):<8.2f} {added[-1]:>+10.2f}")
        print(f"all queries: in-process p50 {statistics.median(old_all):.2f} ms, hardened p50 "
              f"{statistics.median(new_all):.2f} ms; added latency p50 {statistics.median(new_all) - statistics.median(old_all):+.2f} ms "
              f"(median of per-query differences {statistics.median(added):+.2f} ms)")

        # one-off costs: starting workers, and the first answer after a kill
        stuck = "SELECT len(list_distinct(range(3000000)))"  # ignores interrupt(): its worker is killed
        killed = warehouse.execute(stuck, timeout_s=0.5)
        started = time.perf_counter()
        after_kill = warehouse.execute(queries[0])
        first_after_kill_ms = (time.perf_counter() - started) * 1000
        print(f"open (start 2 workers + 1 spare, first ready): {open_s:.2f} s; a query past its 0.5 s timeout "
              f"ended after {killed.elapsed_s:.2f} s ({killed.error_kind}); the next query answered in "
              f"{first_after_kill_ms:.1f} ms ({'ok' if after_kill.ok else after_kill.error})")
        warehouse.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
