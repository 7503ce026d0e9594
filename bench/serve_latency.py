"""Latency and throughput of `sqltune serve` over a real local socket.

    python bench/serve_latency.py                      # fake generator (measures the server itself)
    python bench/serve_latency.py --delay-ms 50        # fake generator that takes 50 ms per question
    python bench/serve_latency.py --real --requests 20 # the default model (prompt-only) on CPU/GPU
    python bench/serve_latency.py --execute            # also run each query on the warehouse
    python bench/serve_latency.py --adapter DIR --data test.jsonl --db WAREHOUSE --limit 40
        # an adapter answering a pairs file's questions one at a time, with execution on: p50/p95 per
        # question and execution accuracy, greedy decoding against the default (checked) decoding
    python bench/serve_latency.py --adapter DIR ... --decodings default --request-timeout 1
        # a deadline most answers miss: the slowest request of any status against it (504s included)

Prints p50/p95/max latency of successful requests, requests/s, and how many were refused (503).
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
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


async def ask_each(url: str, questions: list[str], slow_s: float | None = None,
                   every: list[float] | None = None) -> tuple[list[float], list[str], dict[int, int]]:
    """Each question once, one at a time, with execution: (latency ms of each 200, its SQL, statuses);
    a question slower than `slow_s` seconds is named on stderr with the candidates it drew; `every`
    gets each request's seconds, whatever its status (a 504's too)."""
    latencies: list[float] = []
    sqls: list[str] = []
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        for question in questions:
            started = time.perf_counter()
            r = await client.post("/v1/sql", json={"question": question, "execute": True})
            if every is not None:
                every.append(time.perf_counter() - started)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            body = r.json() if r.status_code == 200 else {}
            sqls.append(body.get("sql", ""))
            if slow_s is not None and time.perf_counter() - started > slow_s:
                print(f"  slow: {time.perf_counter() - started:.2f} s, candidates {body.get('candidates')}, ran "
                      f"{body.get('candidates_ran')}: {question[:70]}", file=sys.stderr)
            if r.status_code != 200 and statuses[r.status_code] == 1:
                print(f"HTTP {r.status_code}: {r.text[:300]}", file=sys.stderr)
            if r.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
    return latencies, sqls, statuses


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(args: argparse.Namespace, db: str, port: int) -> None:
    """Child process: build the generator and run the server."""
    if args.adapter:
        from sqltune.inference.generate import DecodeConfig
        from sqltune.serve.launch import load_generator

        decode = DecodeConfig.greedy() if args.decoding == "greedy" else DecodeConfig()
        if getattr(args, "lookup", None) is not None:
            decode = dataclasses.replace(decode, prompt_lookup=args.lookup)
        if args.merged:  # what `sqltune serve --merged` serves: the adapter merged into a 16-bit checkpoint
            generator = load_generator(None, {}, args.adapter, db=db, decode=decode)
        else:
            generator = load_generator(args.base, {"adapter": args.adapter}, None, db=db, decode=decode)
    elif args.real:
        from sqltune.serve.launch import load_generator

        generator = load_generator(args.base, {}, None, db=db)
    else:
        generator = FakeGenerator(FAKE_SQL, delay_s=args.delay_ms / 1000)
    settings = ServeSettings(db=db, workers=args.workers, max_queue=args.max_queue,
                             **({"request_timeout_s": args.request_timeout} if args.request_timeout else {}))
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
    parser.add_argument("--adapter", default=None, help="Serve this adapter folder (on --base) and ask the questions of --data, one at a time, with execution, greedy then default decoding.")
    parser.add_argument("--merged", action="store_true", help="With --adapter: the folder is a merged checkpoint (`sqltune merge`), served as `sqltune serve --merged` does.")
    parser.add_argument("--data", default=None, help="With --adapter: the pairs whose questions are asked (and whose SQL scores the answers).")
    parser.add_argument("--limit", type=int, default=40, help="With --adapter: questions, evenly spaced through --data.")
    parser.add_argument("--decodings", default="greedy,default", help="With --adapter: which decodings to measure, comma-separated (greedy, default).")
    parser.add_argument("--slow", type=float, default=None, help="With --adapter: name each question slower than this many seconds (stderr), with its candidates.")
    parser.add_argument("--request-timeout", type=float, default=None, help="With --adapter: the server's --request-timeout (default: its own); the table adds the slowest request of any status, to compare with it.")
    parser.add_argument("--prompt-lookup", default=None, help="With --adapter: comma-separated prompt-lookup draft lengths to compare, e.g. 0,10 (default: the decoding's own).")
    args = parser.parse_args(argv)
    if args.adapter:
        if not (args.data and args.db):
            parser.error("--adapter needs --data and --db")
        return by_question(args)

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


def by_question(args: argparse.Namespace) -> int:
    """p50/p95 per question and EX through `sqltune serve`, greedy against the default decoding."""
    from sqltune.data import load_pairs
    from sqltune.evaluation.scoring import Prediction, score_predictions
    from sqltune.execution.execute import Warehouse

    sys.path.insert(0, str(Path(__file__).parent))
    from _machine import cpu_description

    pairs = list(load_pairs(args.data))
    step = max(1, len(pairs) / max(1, min(args.limit, len(pairs))))
    chosen = [pairs[int(i * step)] for i in range(min(args.limit, len(pairs)))]
    print(f"{'merged' if args.merged else 'adapter'} {args.adapter}; {len(chosen)} of {len(pairs)} questions of {args.data}, one at a time, execution on; "
          f"CPU {cpu_description()}" + (f"; --request-timeout {args.request_timeout:g} s" if args.request_timeout else ""))
    timed = args.request_timeout is not None
    print("| decoding | prompt lookup | p50 s | p95 s | max s | EX | executable | non-200 |" + (" slowest of any status s |" if timed else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if timed else ""))
    lookups = [int(v) for v in args.prompt_lookup.split(",")] if args.prompt_lookup else [None]
    for decoding, lookup in [(d, n) for d in args.decodings.split(",") for n in lookups]:
        args.decoding, args.lookup = decoding, lookup
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(args, args.db, port), daemon=True)
        server.start()
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, server, timeout_s=600)
            asyncio.run(ask_each(url, [chosen[0].question]))  # warm-up: first-call kernels, the value index
            every: list[float] = []
            latencies, sqls, statuses = asyncio.run(ask_each(url, [p.question for p in chosen], args.slow, every))
        finally:
            server.terminate()
            server.join(10)
        with Warehouse.open(args.db, timeout_s=10) as warehouse:
            report = score_predictions(chosen, [Prediction(p.id, sql) for p, sql in zip(chosen, sqls)], warehouse, label=decoding)
        seconds = [v / 1000 for v in latencies] or [float("nan")]
        others = sum(n for code, n in statuses.items() if code != 200)
        shown = "default" if lookup is None else lookup
        print(f"| {decoding} | {shown} | {statistics.median(seconds):.2f} | {percentile(seconds, 0.95):.2f} | {max(seconds):.2f} | "
              f"{100 * report.execution_accuracy:.1f}% | {100 * report.executable_rate:.1f}% | {others} |"
              + (f" {max(every):.2f} |" if timed else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
