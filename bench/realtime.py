"""Real-time throughput: brainbatch's OpenAIProvider vs raw aiohttp and raw httpx, same server.

For each server latency (0 ms, 100 ms) and concurrency (64, 256, 1,024) this sends N chat
requests to the simulated server (:mod:`brainbatch.sim`, run in its own process so that the
client's CPU is measured alone) and prints, per client: requests/s, client CPU per request
(process CPU time / n), the ratio to raw aiohttp measured in the same run, and wall time as a
multiple of the ideal ``N x latency / concurrency``.

Clients:
  raw aiohttp   ``session.post(url, json=body)`` / ``await resp.json()``: the usual idiom.
  raw httpx     ``httpx.AsyncClient.post(url, json=body)`` / ``resp.json()``, default
                transport, on ``--httpx-n`` requests (it is slow); it is compared with raw
                aiohttp on the same ``--httpx-n`` requests in the same round (same work).
  brainbatch    ``ParallelExecutor(max_concurrent=C).execute(job, OpenAIProvider(...))``:
                body building, retries/limits machinery, parsing, pricing, results.
  --variants adds brainbatch over httpx transports (for the design choice):
  bb/httpx-aiohttp  transport=httpx_aiohttp.AiohttpTransport()
  bb/httpx          transport=httpx.AsyncHTTPTransport() (plain httpx; capped like raw httpx)

Each client first sends ``min(C, N)`` warm-up requests (connections opened), then is timed.
Each cell runs every client once per round, ``--repeat`` rounds (3 by default) in rotating
order; req/s and the ratios (taken within a round) are shown as min-median-max.

Usage::

    python bench/realtime.py                 # N=20,000 (several minutes)
    python bench/realtime.py --quick         # about a minute
    python bench/realtime.py --n 5000 --concurrency 256 1024 --latency-ms 0
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from brainbatch import BatchJob, BatchRequest, OpenAIProvider, ParallelExecutor

MODEL = "gpt-4o-mini"


def body_for(i: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Classify the sentiment of review #{i}."}],
        "max_tokens": 64,
    }


# -- the server, in its own process ------------------------------------------------------------


class Server:
    def __init__(self, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "brainbatch.sim",
                "--port",
                "0",
                "--latency-ms",
                str(latency_ms),
                "--mean-output-tokens",
                "20",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"simulated server did not start: {line!r}")
        self.url = line.split("on ", 1)[1].strip()
        self.openai_base_url = self.url + "/v1"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- clients -------------------------------------------------------------------------------


async def _pool(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))


async def raw_aiohttp(url: str, n: int, concurrency: int) -> float:
    headers = {"Authorization": "Bearer bench"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> None:
            async with session.post(url, json=body_for(i), headers=headers) as resp:
                data = await resp.json()
                assert resp.status == 200, data

        await _pool(min(concurrency, n), concurrency, one)
        return await _timed(_pool(n, concurrency, one))


async def raw_httpx(url: str, n: int, concurrency: int) -> float:
    headers = {"Authorization": "Bearer bench"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def one(i: int) -> None:
            resp = await client.post(url, json=body_for(i), headers=headers)
            assert resp.status_code == 200, resp.text
            resp.json()

        await _pool(min(concurrency, n), concurrency, one)
        return await _timed(_pool(n, concurrency, one))


def _job(n: int, tag: str) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                messages=[{"role": "user", "content": f"Classify the sentiment of review #{i}."}],
                model=MODEL,
                params={"max_tokens": 64},
                custom_id=f"{tag}{i}",
            )
            for i in range(n)
        ]
    )


async def brainbatch_run(
    base_url: str, n: int, concurrency: int, transport: httpx.AsyncBaseTransport | None = None
) -> float:
    warm, job = _job(min(concurrency, n), "w"), _job(n, "r")
    provider = OpenAIProvider(
        base_url=base_url, api_key="bench", max_concurrent=concurrency, transport=transport
    )
    async with provider:
        executor = ParallelExecutor(max_concurrent=concurrency)
        await executor.execute(warm, provider)
        elapsed = await _timed(executor.execute(job, provider))
    if job.n_success != n:
        raise RuntimeError(f"brainbatch: {job.n_error} of {n} requests failed: {job.error}")
    return elapsed


_cpu_box: list[float] = []


async def _timed(aw: Awaitable[Any]) -> float:
    gc.collect()
    cpu0, t0 = time.process_time(), time.perf_counter()
    await aw
    wall = time.perf_counter() - t0
    _cpu_box.append(time.process_time() - cpu0)
    return wall


@dataclass
class Row:
    latency_ms: float
    concurrency: int
    client: str
    n: int
    wall_s: float
    cpu_s: float

    @property
    def rps(self) -> float:
        return self.n / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.n * 1e6

    def ideal_ratio(self) -> float | None:
        if self.latency_ms <= 0:
            return None
        return self.wall_s / (self.n * self.latency_ms / 1000.0 / self.concurrency)


def run_client(name: str, fn: Callable[[], Awaitable[float]], n: int, lat: float, c: int) -> Row:
    _cpu_box.clear()
    wall = asyncio.run(fn())  # type: ignore[arg-type]
    return Row(lat, c, name, n, wall, _cpu_box[-1])


def limits_overhead(n: int = 200_000) -> None:
    """CPU per request of the limiting/retry machinery alone (no I/O), vs the libraries."""
    from brainbatch.limits import Limiter, RetryPolicy

    async def ours(limiter: Limiter, tokens: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await limiter.acquire(tokens)
            limiter.release()
        return (time.perf_counter() - t0) / n * 1e6

    async def retry_loop() -> float:  # brainbatch's retry loop on a first-try success
        policy = RetryPolicy()

        async def call() -> int:
            return 1

        t0 = time.perf_counter()
        for _ in range(n):
            attempt = 0
            while True:
                attempt += 1
                try:
                    await call()
                    break
                except Exception:
                    if attempt >= policy.max_attempts:
                        raise
        return (time.perf_counter() - t0) / n * 1e6

    async def aiolimiter_cost() -> float | None:
        try:
            from aiolimiter import AsyncLimiter
        except ImportError:
            return None
        limiter = AsyncLimiter(1e12, 60)
        t0 = time.perf_counter()
        for _ in range(n):
            await limiter.acquire(50)
        return (time.perf_counter() - t0) / n * 1e6

    async def tenacity_cost() -> float | None:
        try:
            from tenacity import AsyncRetrying, stop_after_attempt, wait_random_exponential
        except ImportError:
            return None

        async def call() -> int:
            return 1

        t0 = time.perf_counter()
        for _ in range(n // 10):
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(6), wait=wait_random_exponential(0.5, 30)
            ):
                with attempt:
                    await call()
        return (time.perf_counter() - t0) / (n // 10) * 1e6

    async def all_() -> None:
        rows = [
            ("brainbatch Limiter, concurrency only", await ours(Limiter(max_concurrent=1024), 0)),
            (
                "brainbatch Limiter, concurrency + rpm + tpm",
                await ours(Limiter(max_concurrent=1024, rpm=10**12, tpm=10**15), 50),
            ),
            ("aiolimiter AsyncLimiter.acquire(50)", await aiolimiter_cost()),
            ("brainbatch retry loop, success on try 1", await retry_loop()),
            ("tenacity AsyncRetrying, success on try 1", await tenacity_cost()),
        ]
        for name, us in rows:
            print(f"  {name:<46} " + (f"{us:6.2f} us/request" if us else "not installed"))

    print(f"limiter/retry overhead, {n:,} requests, no waiting:")
    asyncio.run(all_())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=20_000, help="requests per run (default 20,000)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 100.0])
    p.add_argument("--httpx-n", type=int, default=3000, help="requests per raw httpx run")
    p.add_argument("--quick", action="store_true", help="N=3,000, httpx-n=300 (about a minute)")
    p.add_argument("--variants", action="store_true", help="also brainbatch over httpx")
    p.add_argument("--repeat", type=int, default=3, help="rounds per cell (rotating order)")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--limits", action="store_true", help="only the limiter/retry overhead")
    args = p.parse_args(argv)
    if args.limits:
        limits_overhead()
        return 0
    # a terminated bench still stops its server (finally blocks run on SystemExit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.n, args.httpx_n = 3000, 300
    n = args.n
    cells: list[Cell] = []
    print(
        f"brainbatch real-time bench: N={n:,} (raw httpx: {min(n, args.httpx_n):,}, compared "
        f"with raw aiohttp on the same {min(n, args.httpx_n):,}), {args.repeat} rounds per "
        f"cell, {os.cpu_count()} CPUs, server in its own process, load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for lat in args.latency_ms:
        server = Server(lat)
        try:
            for c in args.concurrency:
                clients = clients_for(
                    server.openai_base_url, n, min(n, args.httpx_n), c, args.variants
                )
                runs: dict[str, list[Row]] = {name: [] for name, _, _ in clients}
                for k in range(args.repeat):  # rotating order: noise hits every client alike
                    shift = k % len(clients)
                    for name, fn, count in clients[shift:] + clients[:shift]:
                        runs[name].append(run_client(name, fn, count, lat, c))
                cell = Cell(lat, c, runs)
                cells.append(cell)
                print_cell(cell)
        finally:
            server.stop()
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (other work shares the CPUs)")
    print_table(cells)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [[r.__dict__ for rs in cell.runs.values() for r in rs] for cell in cells],
                f,
                indent=1,
            )
    return 0


Client = tuple[str, Callable[[], Awaitable[float]], int]

#: Which client each one is compared with: the same work (same N) in the same round.
BASELINE = {
    "raw httpx": "raw aiohttp (httpx's N)",
    "bb/httpx": "raw aiohttp (httpx's N)",
    "raw aiohttp (httpx's N)": "raw aiohttp (httpx's N)",
}


def clients_for(base_url: str, n: int, nh: int, c: int, variants: bool) -> list[Client]:
    """The clients to compare at concurrency ``c`` (raw aiohttp first: the baseline)."""
    url = base_url + "/chat/completions"
    clients: list[Client] = [
        ("raw aiohttp", lambda: raw_aiohttp(url, n, c), n),
        ("brainbatch", lambda: brainbatch_run(base_url, n, c), n),
        ("raw httpx", lambda: raw_httpx(url, nh, c), nh),
    ]
    if nh != n:
        clients.append(("raw aiohttp (httpx's N)", lambda: raw_aiohttp(url, nh, c), nh))
    if variants:
        from httpx_aiohttp import AiohttpTransport

        plain = httpx.Limits(max_connections=c, max_keepalive_connections=c)
        clients += [
            ("bb/httpx-aiohttp", lambda: brainbatch_run(base_url, n, c, AiohttpTransport()), n),
            (
                "bb/httpx",
                lambda: brainbatch_run(base_url, nh, c, httpx.AsyncHTTPTransport(limits=plain)),
                nh,
            ),
        ]
    return clients


@dataclass
class Cell:
    """One (latency, concurrency) cell: every client's rows, one per round."""

    latency_ms: float
    concurrency: int
    runs: dict[str, list[Row]]

    def baseline(self, client: str) -> list[Row]:
        name = BASELINE.get(client, "raw aiohttp")
        return self.runs.get(name) or self.runs["raw aiohttp"]

    def rps(self, client: str) -> list[float]:
        return [r.rps for r in self.runs[client]]

    def ratios(self, client: str) -> list[float]:
        """Per round: this client's req/s over its baseline's in the same round."""
        base = self.baseline(client)
        return [r.rps / b.rps for r, b in zip(self.runs[client], base, strict=True)]

    def median(self, client: str) -> Row:
        got = sorted(self.runs[client], key=lambda r: r.wall_s)
        return got[len(got) // 2]


def _spread(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    med = sorted(values)[len(values) // 2]
    return f"{lo:{fmt}}-{med:{fmt}}-{hi:{fmt}}" if len(values) > 1 else f"{med:{fmt}}"


def print_cell(cell: Cell) -> None:
    for client in cell.runs:
        row = cell.median(client)
        ideal = row.ideal_ratio()
        print(
            f"  latency {cell.latency_ms:>5g} ms  C={cell.concurrency:<5} {client:<24} "
            f"n={row.n:<6} {_spread(cell.rps(client), ',.0f'):>20} req/s  "
            f"{row.cpu_us:>6,.0f} us CPU/req  vs {BASELINE.get(client, 'raw aiohttp')} "
            f"{_spread(cell.ratios(client), '.2f')}x  vs ideal {f'{ideal:.2f}x' if ideal else '-'}",
            flush=True,
        )


def print_table(cells: list[Cell]) -> None:
    print(
        "| latency | C | client | n | req/s (min-median-max) | CPU us/req (median run) | "
        "vs raw aiohttp, same N, same round | wall / ideal (median run) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for cell in cells:
        for client in cell.runs:
            row = cell.median(client)
            ideal = row.ideal_ratio()
            print(
                f"| {cell.latency_ms:g} ms | {cell.concurrency:,} | {client} | {row.n:,} | "
                f"{_spread(cell.rps(client), ',.0f')} | {row.cpu_us:,.0f} | "
                f"{_spread(cell.ratios(client), '.2f')}x | "
                f"{f'{ideal:.2f}x' if ideal else '-'} |"
            )


if __name__ == "__main__":
    raise SystemExit(main())
