"""Run the chosen sections in order, print the table, write the JSON."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import baseline, classmode, compare, gemm, kit, profile, reference, threshold, training
from .common import DEFAULT_THREADS, MODES, Mode, Row, as_json, table

SECTIONS = ["gemm", "train", "threshold", "reference", "kit", "profile", "compare"]
OPTIONAL = ["class"]  # minutes of class grading (bench/classmode.py): only with --only


def run_suite(sections: list[str], mode: Mode, progress=print,
              baseline_package: tuple[str, str] | None = None,
              profile_baseline: Path | None = None) -> list[Row]:
    """``baseline_package``: (revision, import name) from bench/baseline.py, for the train section;
    ``profile_baseline``: another checkout of the course, graded beside this one in the profile section."""
    rows: list[Row] = []
    for section in sections:
        progress(f"[bench] {section} ({mode.name}) ...")
        start = time.perf_counter()
        if section == "gemm":
            rows += gemm.run(mode)
        elif section == "train":
            rows += training.run(mode, gemm.ceilings(rows), baseline_package)
        elif section == "threshold":
            rows += threshold.run(mode)
        elif section == "reference":
            rows += reference.run(mode)
        elif section == "kit":
            rows += kit.run(mode)
        elif section == "profile":
            rows += profile.run(mode, profile_baseline)
        elif section == "compare":
            rows += compare.run(mode, baseline_package)
        elif section == "class":
            rows += classmode.run(mode)
        progress(f"[bench] {section} done in {time.perf_counter() - start:.0f} s")
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="time a seventh of each epoch and extrapolate; shorter accuracy budgets")
    size.add_argument("--tiny", action="store_true",
                      help="seconds in all: tiny sizes, no CIFAR-10, no kit commands (the smoke test)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                        help=f"BLAS threads for numpy and torch.set_num_threads (default {DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON here")
    parser.add_argument("--baseline", metavar="REV",
                        help="also train the numpy nets of this git revision's source/cs231n (or of a folder) "
                             "in the same alternating rounds: before and after, side by side (train section)")
    parser.add_argument("--profile-baseline", metavar="DIR", type=Path,
                        help="profile: grade with this other checkout of the course too (say, the main "
                             "branch), in alternating rounds, and give the ratios")
    parser.add_argument("--only", nargs="+", choices=SECTIONS + OPTIONAL, metavar="SECTION",
                        help=f"run only these sections, of: {', '.join(SECTIONS)}; and {', '.join(OPTIONAL)}, "
                             "run only when named")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    mode = MODES["tiny" if args.tiny else "quick" if args.quick else "full"]
    sections = [s for s in SECTIONS + OPTIONAL if s in args.only] if args.only else SECTIONS
    baseline_package = None
    if args.baseline:
        try:
            baseline_package = (args.baseline, baseline.load(args.baseline))
        except baseline.BaselineError as error:
            print(f"python -m bench: {error}", file=sys.stderr)
            return 2
    start = time.perf_counter()
    rows = run_suite(sections, mode, baseline_package=baseline_package, profile_baseline=args.profile_baseline)
    print(table(rows))
    if args.json:
        path = Path(args.json)
        path.write_text(json.dumps(as_json(rows, mode, sections, time.perf_counter() - start), indent=2) + "\n")
        print(f"wrote {path}")
    return 0
