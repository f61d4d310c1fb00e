"""Peak memory of ``bb.run`` on N short rows (in-process simulated provider, 0 ms, journal on).

Each measurement runs in a fresh process, so its peak RSS is its own:

* ``baseline``: the same process up to the DataFrame (imports + the input table), no run;
* ``bb.run``: the DataFrame through ``bb.run(df, prompt=..., model="sim/gpt-4o-mini",
  store=<file>)`` to the results DataFrame.

Prints peak RSS for both and bytes per row of the difference. ``--checkout DIR`` imports
brainbatch from DIR instead (e.g. ``git archive <commit> brainbatch | tar -x -C DIR``), for a
before/after figure on the same machine.

    .venv/bin/python bench/memory.py [--n 1000000] [--concurrency 256]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import os, resource, sys, tempfile, time
os.environ["BRAINBATCH_PROGRESS"] = "none"
import numpy as np
import pandas as pd
import brainbatch as bb
n, c, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
df = pd.DataFrame({"review": [f"Review #{i}: good value, fast delivery." for i in range(n)],
                   "stars": np.arange(n) % 5})
t0 = time.perf_counter()
if what == "run":
    with tempfile.TemporaryDirectory() as tmp:
        out = bb.run(df, prompt="Classify ({stars} stars): {review}", model="sim/gpt-4o-mini",
                     store=os.path.join(tmp, "jobs.sqlite"), max_concurrent=c, progress=False)
        assert (out["status"] == "success").all()
        size = os.path.getsize(os.path.join(tmp, "jobs.sqlite"))
else:
    size = 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(peak, time.perf_counter() - t0, size, df.memory_usage(deep=True).sum())
"""


def measure(checkout: str | None, n: int, c: int, what: str) -> tuple[int, float, int, int]:
    code = CHILD
    if checkout:  # import brainbatch from that folder, ahead of the editable install
        code = (
            "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
            f"type(f).__module__.lower() and 'editable' not in repr(f).lower()]; "
            f"sys.path.insert(0, {checkout!r})\n" + CHILD
        )
    out = subprocess.run(
        [sys.executable, "-c", code, str(n), str(c), what],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2]), int(out[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--checkout", help="a folder holding another brainbatch/ to measure")
    a = ap.parse_args()
    base, _, _, df_bytes = measure(a.checkout, a.n, a.concurrency, "baseline")
    peak, wall, size, _ = measure(a.checkout, a.n, a.concurrency, "run")
    mb = 1024 * 1024
    who = f"brainbatch from {a.checkout}" if a.checkout else "this brainbatch"
    print(
        f"{who}: {a.n:,} rows (input DataFrame {df_bytes / mb:,.0f} MiB), load average "
        f"{os.getloadavg()[0]:.1f}:\n"
        f"  baseline (imports + DataFrame) peak RSS {base / mb:,.0f} MiB\n"
        f"  bb.run, journal on             peak RSS {peak / mb:,.0f} MiB, "
        f"{(peak - base) / a.n:,.0f} bytes per row over the baseline, {wall:,.1f} s, "
        f"journal file {size / mb:,.0f} MiB ({size / a.n:,.0f} bytes per row)"
    )


if __name__ == "__main__":
    main()
