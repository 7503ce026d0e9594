"""Latency and throughput of `sqltune serve` over a real local socket.

    python bench/serve_latency.py                      # fake generator (measures the server itself)
    python bench/serve_latency.py --delay-ms 50        # fake generator that takes 50 ms per question
    python bench/serve_latency.py --real --requests 20 # the default model (prompt-only) on CPU/GPU
    python bench/serve_latency.py --execute            # also run each query on the warehouse

Prints p50/p95/max latency of successful requests, requests/s, and how many were refused (503).
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn

from sqltune.serve import ServeSettings, create_app
from sqltune.serve.testing import FakeGenerator, build_demo_warehouse

QUESTIONS = [
    "How many ships are there?",
    "List the five heaviest ships.",
    "What is the average tonnage per home port?",
    "Which ports are in NL?",
]
FAKE_SQL = {
    QUESTIONS[0]: "SELECT count(*) FROM ships",
    QUESTIONS[1]: "SELECT name, tonnage FROM ships ORDER BY tonnage DESC LIMIT 5",
    QUESTIONS[2]: "SELECT home_port, avg(tonnage) FROM ships GROUP BY home_port ORDER BY 1",
    QUESTIONS[3]: "SELECT name FROM ports WHERE country = 'NL'",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def drive(url: str, *, requests: int, concurrency: int, execute: bool) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            r = await client.post("/v1/sql", json={"question": QUESTIONS[i % len(QUESTIONS)], "execute": execute})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, statuses, wall


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(args: argparse.Namespace, db: str, port: int) -> None:
    """Child process: build the generator and run the server."""
    if args.real:
        from sqltune.serve.launch import load_generator

        generator = load_generator(args.base, {}, None, db=db)
    else:
        generator = FakeGenerator(FAKE_SQL, delay_s=args.delay_ms / 1000)
    settings = ServeSettings(db=db, workers=args.workers, max_queue=args.max_queue)
    uvicorn.run(create_app(settings, generator), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_until_up(url: str, server: multiprocessing.Process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise SystemExit("the server process exited during startup")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not start within {timeout_s:g} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", action="store_true", help="Serve the default model instead of the fake generator.")
    parser.add_argument("--base", default=None, help="With --real: base model (default: the embedded default).")
    parser.add_argument("--db", default=None, help="Warehouse (default: a small generated DuckDB file).")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="Generation threads in the server.")
    parser.add_argument("--max-queue", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="Fake generator: time per question.")
    parser.add_argument("--execute", action="store_true", help="Ask the server to run each query too.")
    args = parser.parse_args(argv)

    label = f"real model ({args.base or 'default base'})" if args.real else f"fake generator ({args.delay_ms:g} ms/question)"
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(build_demo_warehouse(Path(tmp) / "bench.duckdb", rows=10_000))
        # The server runs in its own process so the client does not compete with it for the GIL.
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(args, db, port), daemon=True)
        server.start()
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, server, timeout_s=600 if args.real else 60)
            asyncio.run(drive(url, requests=min(4, args.requests), concurrency=1, execute=args.execute))  # warm-up
            latencies, statuses, wall = asyncio.run(
                drive(url, requests=args.requests, concurrency=args.concurrency, execute=args.execute)
            )
        finally:
            server.terminate()
            server.join(10)

    ok = statuses.get(200, 0)
    print(f"{label}; {args.requests} requests, concurrency {args.concurrency}, workers {args.workers}, "
          f"execute={'on' if args.execute else 'off'}")
    print(f"status counts: {dict(sorted(statuses.items()))}")
    if latencies:
        print(f"latency ms: p50 {statistics.median(latencies):.1f}  p95 {percentile(latencies, 0.95):.1f}  "
              f"max {max(latencies):.1f}")
    print(f"throughput: {ok / wall:.1f} successful requests/s over {wall:.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
