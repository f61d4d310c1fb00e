"""Peak memory of ``bb.run`` over N image files: read at send time (this tree) vs read when the
job is made (the eager code of an earlier commit), in the same run.

Each measurement runs in a fresh process, so its peak RSS is its own:

* ``baseline``: imports and the DataFrame of N paths, no run;
* ``lazy``: ``bb.run(df, ..., images="photo", model="sim/gpt-4o-mini", store=False)`` with
  brainbatch from this tree (each file is checked up front, then read and encoded when its
  request is sent);
* ``eager``: the same call with brainbatch from ``--eager-rev`` (default: the commit before
  files were read lazily), extracted with ``git archive`` into a temporary folder; it reads
  every file into its request's data URL when the job is made.

The files are PNG headers padded to ``--size`` bytes (the in-process simulator does not decode
them). Rounds alternate the order; prints min-median-max peak RSS per variant, and the ratio of
what each run adds over the baseline (lazy / eager), taken within a round.

    .venv/bin/python bench/images.py [--n 200] [--size 500000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import zlib

CHILD = r"""
import os, resource, sys
os.environ["BRAINBATCH_PROGRESS"] = "none"
import pandas as pd
import brainbatch as bb
folder, n, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
df = pd.DataFrame({"name": [str(i) for i in range(n)],
                   "photo": [os.path.join(folder, f"{i}.png") for i in range(n)]})
if what != "baseline":
    out = bb.run(df, prompt="What is in picture {name}?", model="sim/gpt-4o-mini",
                 images="photo", store=False, latency_ms=0, max_concurrent=16, progress=False)
    assert (out["status"] == "success").all(), out["error"].dropna().head()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

EAGER_REV = "86531b2"  # the last commit that read image files when the job was made


def _png_header() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 512, 512, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)


def measure(checkout: str | None, folder: str, n: int, what: str) -> int:
    code = CHILD
    if checkout:  # import brainbatch from that folder, ahead of the editable install
        code = (
            "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
            f"type(f).__module__.lower() and 'editable' not in repr(f).lower()]; "
            f"sys.path.insert(0, {checkout!r})\n" + CHILD
        )
    out = subprocess.run(
        [sys.executable, "-c", code, folder, str(n), what],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-1])


def _mib(values: list[float]) -> str:
    return "-".join(
        f"{v / 2**20:,.0f}" for v in (min(values), statistics.median(values), max(values))
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="image files (one per row)")
    ap.add_argument("--size", type=int, default=500_000, help="bytes per file")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--eager-rev", default=EAGER_REV, help="the eager commit to compare with")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        files, eager = os.path.join(tmp, "files"), os.path.join(tmp, "eager")
        os.makedirs(files)
        os.makedirs(eager)
        header = _png_header()
        for i in range(args.n):
            with open(os.path.join(files, f"{i}.png"), "wb") as fh:
                fh.write(header + os.urandom(max(0, args.size - len(header))))
        archive = subprocess.run(
            ["git", "-C", root, "archive", args.eager_rev, "brainbatch"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", eager], input=archive, check=True)
        peaks: dict[str, list[float]] = {"baseline": [], "lazy": [], "eager": []}
        ratios: list[float] = []
        variants = [("baseline", None), ("lazy", None), ("eager", eager)]
        for r in range(args.rounds):
            got: dict[str, int] = {}
            for name, checkout in variants[r % 3 :] + variants[: r % 3]:
                got[name] = measure(
                    checkout, files, args.n, "baseline" if name == "baseline" else "run"
                )
                peaks[name].append(got[name])
            ratios.append((got["lazy"] - got["baseline"]) / (got["eager"] - got["baseline"]))
    total = args.n * args.size / 2**20
    print(f"{args.n} image files of {args.size:,} bytes ({total:,.0f} MiB), {args.rounds} rounds")
    print(f"peak RSS, MiB (min-median-max): baseline {_mib(peaks['baseline'])}")
    print(f"  lazy (this tree): {_mib(peaks['lazy'])}")
    print(f"  eager ({args.eager_rev}): {_mib(peaks['eager'])}")
    print(
        "added over the baseline, lazy / eager: "
        + "-".join(f"{v:.3f}x" for v in (min(ratios), statistics.median(ratios), max(ratios)))
    )


if __name__ == "__main__":
    main()
