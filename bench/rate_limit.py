"""RPM limit: how much of the limit brainbatch uses, and whether it ever goes over it.

A local OpenAI-compatible server (its own process) enforces a request limit itself, over a
sliding window of ``--window`` seconds (short, so the bench takes seconds: the client is given
the same window with ``rate_window_s``): a request that would make more than ``--limit``
accepted requests in any window gets a 429 with ``Retry-After`` (an *over-limit* 429: the
client's fault). The server can also refuse a share of requests with a 429 and a
``Retry-After`` of its own (``--inject``, as a provider under load does): brainbatch then
pauses every worker, and the pauses must not let a burst over the limit through when they end.

Baseline: the limit itself. Printed per run: requests accepted per window as a share of the
limit (mean over the full windows from the first accepted request; "steady": the same
without the first window, where connections open; the emptiest full window; the fullest
sliding window, which must stay at most 100%), over-limit and injected 429s, wall time, and
the client's peak RSS. Pauses for injected 429s cost time by design (every worker waits
out the provider's ``Retry-After``), so only the run without them measures utilisation.

Measured here (2 shared cores, defaults): without injected 429s 96.7% of the limit used
(288-295 of 300 per window), fullest window 98.3%, 0 over-limit 429s; with 1% injected 429s
(0.3 s Retry-After) 0 over-limit 429s, fullest window 83.7%; client peak RSS 137 MB. Before
the limiter counted a place at the moment a request leaves (it was counted when reserved,
and places reserved during a pause all went when the pause ended): 91.1% used, and with 1%
injected 429s 8 over-limit 429s.

Usage::

    python bench/rate_limit.py                  # 300 per 2 s, 64 in flight, ~35 s
    python bench/rate_limit.py --windows 4 --inject 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import signal
import subprocess
import sys
import time
from collections import deque
from typing import Any

import orjson

MODEL = "gpt-4o-mini"


# -- the server, in its own process ----------------------------------------------------------


def serve(port: int, limit: int, window: float, inject: float, retry_after: float) -> None:
    """Run the limit-enforcing server; prints its base URL, then serves until killed."""
    from aiohttp import web

    accepted: deque[float] = deque()
    log: list[tuple[float, str]] = []  # (arrival, "ok" | "over_limit" | "injected")
    rng = random.Random(7)
    answer = orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "positive"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
        }
    )

    def refuse(kind: str, wait: float) -> web.Response:
        body = {"error": {"message": f"bench: {kind}", "type": "requests", "code": kind}}
        return web.Response(
            status=429,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={
                "retry-after": str(max(1, int(wait + 0.999))),
                "retry-after-ms": str(int(wait * 1000)),
            },
        )

    async def chat(request: web.Request) -> web.Response:
        now = time.monotonic()
        await request.read()
        while accepted and accepted[0] <= now - window:
            accepted.popleft()
        if inject and rng.random() < inject:
            log.append((now, "injected"))
            return refuse("injected", retry_after)
        if len(accepted) >= limit:
            log.append((now, "over_limit"))
            return refuse("over_limit", accepted[0] + window - now)
        accepted.append(now)
        log.append((now, "ok"))
        await asyncio.sleep(0.02)  # a little server latency
        return web.Response(body=answer, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(log), content_type="application/json")

    async def reset(request: web.Request) -> web.Response:
        accepted.clear()
        log.clear()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"http://127.0.0.1:{bound}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    def __init__(self, limit: int, window: float, inject: float, retry_after: float) -> None:
        args = [sys.executable, __file__, "--serve", "--limit", str(limit)]
        args += ["--window", str(window), "--inject", str(inject)]
        args += ["--retry-after", str(retry_after)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.proc.kill()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.url = line

    def log(self) -> list[tuple[float, str]]:
        import urllib.request

        with urllib.request.urlopen(self.url + "/stats") as resp:
            return [(float(t), str(k)) for t, k in orjson.loads(resp.read())]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- the client -------------------------------------------------------------------------------


def _job(n: int) -> Any:
    from brainbatch import BatchJob, BatchRequest

    return BatchJob(
        [
            BatchRequest(
                prompt=f"Classify the sentiment of review #{i}.",
                model=MODEL,
                params={"max_tokens": 8},
                custom_id=f"r{i}",
            )
            for i in range(n)
        ]
    )


async def warm_up(url: str) -> None:
    """A few requests first: one-time loads (price table...) are not the limiter's cost.
    The server then forgets them (``/reset``)."""
    import urllib.request

    from brainbatch import OpenAIProvider, ParallelExecutor

    async with OpenAIProvider(base_url=url + "/v1", api_key="sk-bench") as provider:
        await ParallelExecutor(max_concurrent=4).execute(_job(4), provider)
    reset = urllib.request.Request(url + "/reset", method="POST")
    await asyncio.to_thread(lambda: urllib.request.urlopen(reset).read())


async def run_client(url: str, n: int, limit: int, window: float, concurrency: int) -> float:
    from brainbatch import OpenAIProvider, ParallelExecutor
    from brainbatch.limits import RetryPolicy

    job = _job(n)
    await warm_up(url)
    provider = OpenAIProvider(
        base_url=url + "/v1",
        api_key="sk-bench",
        rpm=limit,
        rate_window_s=window,
        max_concurrent=concurrency,
        retry=RetryPolicy(max_attempts=20),
    )
    t0 = time.perf_counter()
    async with provider:
        await ParallelExecutor(max_concurrent=concurrency).execute(job, provider)
    wall = time.perf_counter() - t0
    if job.n_success != n:
        raise RuntimeError(f"{job.n_error} of {n} requests failed: {job.error}")
    return wall


def max_in_window(times: list[float], window: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def report(log: list[tuple[float, str]], limit: int, window: float) -> dict[str, Any]:
    ok = sorted(t for t, kind in log if kind == "ok")
    full = int((ok[-1] - ok[0]) // window)  # whole windows from the first accepted request
    counts = [
        sum(1 for t in ok if ok[0] + k * window <= t < ok[0] + (k + 1) * window)
        for k in range(full)
    ]
    return {
        "accepted": len(ok),
        "over_limit_429": sum(1 for _, kind in log if kind == "over_limit"),
        "injected_429": sum(1 for _, kind in log if kind == "injected"),
        "windows": full,
        "mean_use": sum(counts) / (full * limit) if full else float("nan"),
        "steady_use": sum(counts[1:]) / ((full - 1) * limit) if full > 1 else float("nan"),
        "min_use": min(counts) / limit if counts else float("nan"),
        "peak_use": max_in_window(ok, window) / limit,
        "counts": counts,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--limit", type=int, default=300, help="requests per window (default 300)")
    p.add_argument("--window", type=float, default=2.0, help="window in seconds (default 2)")
    p.add_argument("--windows", type=int, default=6, help="rows = limit x windows (default 6)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument(
        "--inject",
        type=float,
        nargs="+",
        default=[0.0, 0.01],
        help="shares of requests the server refuses with its own 429 (one run each)",
    )
    p.add_argument("--retry-after", type=float, default=0.3, help="their Retry-After, seconds")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.port, args.limit, args.window, args.inject[0], args.retry_after)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = args.limit * args.windows
    print(
        f"limit {args.limit} requests per {args.window:g} s window (server-enforced, sliding), "
        f"{n:,} rows, {args.concurrency} in flight; baseline = the limit (100%)"
    )
    header = (
        f"{'injected 429s':>13} {'wall s':>7} {'accepted':>8} {'mean use':>8} {'steady':>7} "
        f"{'min use':>8} {'peak use':>8} {'over-limit 429':>14} {'injected':>8}"
    )
    print(header)
    worst_peak, worst_mean_clean, over = 0.0, 1.0, 0
    rows: list[tuple[float, list[int]]] = []
    for inject in args.inject:
        server = Server(args.limit, args.window, inject, args.retry_after)
        try:
            wall = asyncio.run(run_client(server.url, n, args.limit, args.window, args.concurrency))
            r = report(server.log(), args.limit, args.window)
        finally:
            server.stop()
        rows.append((inject, r["counts"]))
        worst_peak = max(worst_peak, r["peak_use"])
        over += r["over_limit_429"]
        if inject == 0:
            worst_mean_clean = min(worst_mean_clean, r["mean_use"])
        print(
            f"{inject:>12.0%} {wall:>7.1f} {r['accepted']:>8,} {r['mean_use']:>8.1%} "
            f"{r['steady_use']:>7.1%} {r['min_use']:>8.1%} {r['peak_use']:>8.1%} "
            f"{r['over_limit_429']:>14} {r['injected_429']:>8}"
        )
    for inject, counts in rows:
        print(f"accepted per window, {inject:.0%} injected: {counts}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"client peak RSS: {rss_mb:.0f} MB")
    print(
        f"without injected 429s {worst_mean_clean:.1%} of the limit used; fullest window "
        f"{worst_peak:.1%} of the limit; over-limit 429s: {over}"
    )
    return 0 if over == 0 and worst_peak <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
