"""``coursekit``: a thin command line over the library.

Each command parses its arguments and calls one library function.  Progress bars go to
stderr, and only when it is a terminal: a redirected log never gets them.  Errors the kit raises
on purpose (:class:`~coursekit.errors.CoursekitError`) become one clean paragraph on
stderr and a non-zero exit code.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from pathlib import Path

from . import interrupt
from .config import Course, cluster_problem, load_config
from .errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEM, CoursekitError, UsageError

TICK_SECONDS = 1.0  # how often a progress bar redraws its elapsed time while a stage runs
ENV_FAST = "COURSEKIT_FAST"  # "1": --fast, as nbgrader autograde and run_autograder read it
DESCRIPTION = ("Build, grade and check the course's neural-network assignments (numpy, CS231n-style): "
               "every command reads course.toml.")


def _course(args) -> Course:
    return load_config(args.config)


def _quiet(args) -> bool:
    """No progress bars: the global -q, or a command's own --quiet."""
    return args.verbosity < 0 or getattr(args, "quiet", False)


def version() -> str:
    from importlib import metadata  # here: importing it costs a grade tens of milliseconds

    try:
        return metadata.version("coursekit")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


class VersionAction(argparse.Action):
    """``--version``: print the installed version and exit.  Looked up only when asked: reading the
    package metadata imports importlib.metadata, which costs every other command tens of milliseconds."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {version()}")
        parser.exit()


class StageProgress:
    """A progress bar over the stages of one grade: on stderr, only when stderr is a terminal."""

    def __init__(self, stages: list[str], enabled: bool):
        self.stages, self.bar, self.stop = stages, None, threading.Event()
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=len(stages), file=sys.stderr, leave=False,
                            ncols=shutil.get_terminal_size().columns,  # 80 x 24 when the terminal says 0
                            nrows=shutil.get_terminal_size().lines,
                            bar_format="grading: {desc:<30} {bar:20} {n}/{total} [{elapsed}]")
            threading.Thread(target=self._tick, daemon=True).start()

    def __call__(self, stage: str) -> None:
        if self.bar is not None:
            if stage in self.stages:
                self.bar.n = self.stages.index(stage)
            self.bar.set_description_str(stage)

    def _tick(self) -> None:
        while not self.stop.wait(TICK_SECONDS):
            self.bar.refresh()

    def close(self) -> None:
        self.stop.set()
        if self.bar is not None:
            self.bar.close()


def cmd_data(args) -> int:
    """Download, verify and unpack CIFAR-10 (or check the folder that is there)."""
    from .data.dataset import check_cifar10_dir
    from .data.download import download_cifar10, install_tarball

    course = _course(args)
    dest = Path(args.dest) if args.dest else course.data.cifar10_dir
    if args.check:
        check_cifar10_dir(dest, deep=True)
    elif args.tarball:
        install_tarball(Path(args.tarball), dest, args.md5 or course.data.md5)
    else:
        download_cifar10(dest, args.url or course.data.url, args.md5 or course.data.md5,
                         progress=not _quiet(args), retries=args.retries, force=args.force)
    print(f"CIFAR-10 is ready in {dest}")
    return EXIT_OK


def cmd_train(args) -> int:
    """Train the reference solution with the course's hyperparameters."""
    from .train import train_reference

    course = _course(args)
    out = Path(args.out) / args.assignment
    result = train_reference(course, args.assignment, out, progress=not _quiet(args), seed=args.seed)
    print(f"{args.assignment}: val accuracy {result.val_accuracy:.3f}, test accuracy "
          f"{result.test_accuracy:.3f}, trained in {result.train_seconds:.1f} s")
    print(f"curves and metrics written to {out}")
    return EXIT_OK


def cmd_build(args) -> int:
    """Generate release/ (student skeleton) and solutions/ from source/."""
    from .tracks import build_tracks, check_tracks, execute_notebooks

    course = _course(args)
    ids = args.assignments or None
    if args.check:
        diff = check_tracks(course, ids)
        if diff:
            print("\n".join(diff))
            print("release/ or solutions/ differ from what source/ generates: run `coursekit build`.")
            return EXIT_PROBLEM
        print("release/ and solutions/ are up to date with source/.")
        return EXIT_OK
    if args.execute:
        execute_notebooks(course, ids)
    print(build_tracks(course, ids).summary())
    return EXIT_OK


def cmd_grade(args) -> int:
    """Grade one submission, or a whole class laid out like nbgrader's submitted/<student>/<assignment>/.

    Exit code 0 when the grade was written, whatever the score.
    """
    if args.cleanup:
        from .grade.sandbox.registry import sweep

        print(sweep().summary())
        return EXIT_OK
    from .classroom.batch import grade_batch, looks_like_batch
    from .classroom.results import FEEDBACK
    from .grade import grade_submission
    from .grade.feedback import feedback_format
    from .grade.pipeline import STAGES

    if not args.assignment or not args.submission:
        raise UsageError("coursekit grade needs ASSIGNMENT and SUBMISSION_DIR (or --cleanup alone).")
    args.fast = args.fast or os.environ.get(ENV_FAST) == "1"
    if args.feedback:
        feedback_format(args.feedback)  # before anything runs
    gradebook = None
    if args.gradebook is not None or args.gradebook_file is not None:
        from .classroom.gradebook import gradebook_url

        gradebook = gradebook_url(args.gradebook, args.gradebook_file)  # never a password on the command line
    problem = cluster_problem(args.cluster) if args.cluster else ""
    if problem or (args.workers is not None and args.workers < 1):
        raise UsageError(f"--cluster {problem}" if problem else f"--workers must be 1 or more, got {args.workers}.")
    course, folder = _course(args), Path(args.submission)
    if looks_like_batch(folder, args.assignment):
        out = Path(args.out or Path("graded") / args.assignment)
        batch = grade_batch(course, args.assignment, folder, out, workers=args.workers, fast=args.fast,
                            gradebook=gradebook, progress=not _quiet(args), insecure=args.insecure,
                            feedback=Path(args.feedback).name if args.feedback else FEEDBACK,
                            regrade=args.regrade, cluster=args.cluster, seed=args.seed)
        print(batch.summary())
        return EXIT_PROBLEM if batch.errors else EXIT_OK
    stages = [s for s in STAGES if s != "waiting for your functions"
              and (not args.fast or s in ("running your functions", "judging"))]
    progress = StageProgress(stages, enabled=sys.stderr.isatty() and not _quiet(args))
    try:
        report = grade_submission(course, args.assignment, folder, results_path=args.results,
                                  feedback_path=args.feedback, fast=args.fast, progress=progress,
                                  seed=args.seed, insecure=args.insecure)
    finally:
        progress.close()
    print(report.summary().splitlines()[0] if args.verbosity < 0 else report.table())
    if args.verbosity > 0:
        for test in report.tests:
            if not test.passed:
                print(f"\n== {test.key}: {test.title}\n{report.test_output(test)}")
    for path in (args.results, args.feedback):
        if path and args.verbosity >= 0:
            print(f"wrote {path}")
    return EXIT_OK


def cmd_gradescope(args) -> int:
    """Build the Gradescope autograder zip: setup.sh, run_autograder, pinned requirements, the kit."""
    from .classroom.gradescope import build_bundle

    bundle = build_bundle(_course(args), args.assignment, Path(args.output))
    print(f"wrote {bundle}: upload it as the autograder of '{args.assignment}' on Gradescope")
    return EXIT_OK


def cmd_check(args) -> int:
    """Grade the solutions, the untouched release and every catalogued mistake; fail if one slips through."""
    from .data.dataset import cifar10_problem
    from .selfcheck.run import run_selfcheck

    course = _course(args)
    escalate = not args.code_only and cifar10_problem(course.data.cifar10_dir) is None
    report = run_selfcheck(course, fast=args.fast or args.code_only, catalogue=args.catalogue,
                           only=args.only or None, workers=args.workers, escalate=escalate)
    print(report.table())
    return EXIT_OK if report.ok else EXIT_PROBLEM


def cmd_demo(args) -> int:
    """The kit's main job: build both tracks, then grade the solutions track as a sample submission."""
    from .tracks import build_tracks
    from .grade import grade_submission
    from .tracks.trees import ignore_outputs
    from .train import load_data, save_sample_model

    course = _course(args)
    print(build_tracks(course).summary())
    data = load_data(course)
    for assignment in course.assignments:
        folder = Path(args.out) / assignment
        submission = folder / "submission"
        shutil.rmtree(submission, ignore_errors=True)
        shutil.copytree(course.solutions_dir / assignment, submission, ignore=ignore_outputs)  # no stray saved model
        print(f"\nTraining the tuned model a student would save for {assignment} ...")
        save_sample_model(course, assignment, submission, data, progress=not _quiet(args))
        report = grade_submission(course, assignment, submission, results_path=folder / "results.json",
                                  feedback_path=folder / "feedback.md")
        print(f"\n== {assignment}: solutions/{assignment} graded as a sample submission ==")
        print(report.table())
        print(f"results.json and feedback.md in {folder}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    epilog = "exit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES)
    parser = argparse.ArgumentParser(prog="coursekit", description=DESCRIPTION, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="course.toml to use (default: found from the working directory)")
    parser.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0,
                        help="no progress bars (they show on a terminal only anyway); `grade` prints only "
                             "the score line")
    parser.add_argument("-v", "--verbose", dest="verbosity", action="count",
                        help="`grade` also prints every failed case and its explanation")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text):
        sub = commands.add_parser(name, help=help_text, description=func.__doc__)
        sub.set_defaults(func=func)
        sub.add_argument("-q", dest="verbosity", action="store_const", const=-1, default=argparse.SUPPRESS,
                         help="quiet: no progress bars; `grade` prints only the score line (as coursekit -q)")
        sub.add_argument("-v", "--verbose", dest="verbosity", action="count", default=argparse.SUPPRESS,
                         help="verbose: `grade` also prints every failed case (as coursekit -v)")
        return sub

    data = command("data", cmd_data, "download, verify and unpack CIFAR-10")
    data.add_argument("--dest", help="dataset folder (default: data.cifar10_dir, or $CIFAR10_DIR)")
    data.add_argument("--url", help="tarball URL (default: data.url in course.toml)")
    data.add_argument("--md5", help="expected md5 of the tarball (default: data.md5)")
    data.add_argument("--tarball", help="install from a tarball already on disk instead of downloading")
    data.add_argument("--retries", type=int, default=3, help="attempts after a cut connection")
    data.add_argument("--force", action="store_true", help="download even if the folder is valid")
    data.add_argument("--check", action="store_true", help="only check the folder, deeply")
    data.add_argument("--quiet", action="store_true", help="no progress bar (shown on a terminal only)")

    train = command("train", cmd_train, "train a reference net on CIFAR-10")
    train.add_argument("assignment", choices=["two_layer_net", "fc_net"],
                       help="which reference net to train, with [assignments.<id>.train] of course.toml")
    train.add_argument("--out", default="out/train",
                       help="curves.png and metrics.json go to OUT/ASSIGNMENT (default: out/train)")
    train.add_argument("--seed", type=int, default=0, help="numpy seed (default: 0)")
    train.add_argument("--quiet", action="store_true", help="no progress bar (shown on a terminal only)")

    build = command("build", cmd_build, "generate release/, solutions/ and nbgrader_config.py from source/")
    build.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                       help="assignment ids (default: all in course.toml)")
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 with a diff if the committed files differ from a fresh build")
    build.add_argument("--execute", action="store_true",
                       help="execute the solution notebooks first and store their outputs")

    grade = command("grade", cmd_grade, "grade one submission, or a class of them")
    grade.add_argument("assignment", metavar="ASSIGNMENT", nargs="?", help="assignment id from course.toml")
    grade.add_argument("submission", metavar="SUBMISSION_DIR", nargs="?",
                       help="the student's folder (laid out like release/ASSIGNMENT/), or nbgrader's "
                            "submitted/ folder (submitted/<student_id>/ASSIGNMENT/) to grade a class")
    grade.add_argument("--cleanup", action="store_true",
                       help="only kill, delete and remove what graders that are gone (SIGKILLed, say) left behind: "
                            "processes of their spare uids, temporary folders, cgroups (every grade does it first)")
    grade.add_argument("--results", metavar="results.json",
                       help="one submission: write the grade in Gradescope's results.json format here")
    grade.add_argument("--feedback", metavar="feedback.md|.html",
                       help="the student's feedback, Markdown or HTML by the extension: one submission: "
                            "write it here; a class: its file name in each student's folder (default feedback.md)")
    grade.add_argument("--fast", action="store_true",
                       help=f"skip the CIFAR-10 checks (cifar_accuracy, saved_model): the score leaves out their "
                            f"points, and --gradebook keeps the scores it has for them; {ENV_FAST}=1 in the "
                            "environment does the same")
    grade.add_argument("--seed", type=int, help="the seed of the hidden cases, to reproduce a grade "
                       "(results.json records it; fresh for every grade by default); a class: each student's "
                       "seed is drawn from it and the student id")
    grade.add_argument("--insecure", action="store_true",
                       help="when bubblewrap cannot isolate student code, grade anyway in the degraded mode "
                            "(spare uid, no namespaces; the course files must be readable by root only)")
    grade.add_argument("--out", metavar="DIR", help="a class: output folder, with students/<id>/ and grades.csv "
                       "(default graded/ASSIGNMENT)")
    grade.add_argument("--cluster", metavar="tcp://HOST:PORT",
                       help="a class: grade on the workers of this Dask scheduler (default: [grading] cluster in "
                            "course.toml, else 'local': an embedded cluster on this machine)")
    grade.add_argument("--workers", type=int, default=None,
                       help="a class: worker processes of the embedded local cluster (default: one per two cores)")
    grade.add_argument("--regrade", action="store_true",
                       help="a class: grade every student again (default: only new or changed submissions)")
    grade.add_argument("--gradebook", metavar="DB_URL", nargs="?", const="",
                       help="a class: also write each student's score for every check this run graded into the "
                            "cells of coursekit_modules in this nbgrader gradebook (e.g. sqlite:///gradebook.db); "
                            "scores an instructor entered by hand are kept. With no value, the URL in "
                            "$COURSEKIT_GRADEBOOK_URL. A URL with a password is refused here: every process can "
                            "read a command line")
    grade.add_argument("--gradebook-file", metavar="PATH",
                       help="a class: the gradebook URL, read from this file (chmod 600: it may hold a password)")

    gradescope = command("gradescope", cmd_gradescope, "build the Gradescope autograder zip")
    gradescope.add_argument("assignment", metavar="ASSIGNMENT", help="assignment id from course.toml")
    gradescope.add_argument("-o", "--output", default="autograder.zip",
                            help="zip to write (default: autograder.zip)")

    check = command("check", cmd_check, "check that the grader catches every catalogued mistake")
    check.add_argument("--fast", action="store_true",
                       help="code checks first; CIFAR-10 checks only for mistakes they miss")
    check.add_argument("--code-only", action="store_true",
                       help="never run the CIFAR-10 checks (no dataset needed)")
    check.add_argument("--catalogue", type=Path, help="mistake catalogue (default: autograder/mistakes.toml)")
    check.add_argument("--only", nargs="*", metavar="ID", help="only these mistakes (and their assignments)")
    check.add_argument("--workers", type=int, default=2, help="grades run at once (default: 2)")

    demo = command("demo", cmd_demo, "the main job: build the tracks and grade the solutions track")
    demo.add_argument("--out", default="out/demo",
                      help="results.json and feedback.md of each assignment go to OUT/ASSIGNMENT (default: out/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars (shown on a terminal only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt.new_command()
    try:
        return args.func(args)
    except CoursekitError as err:
        print(f"coursekit {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        interrupt.say_interrupted()
        return EXIT_INTERRUPTED


def run() -> None:
    """The ``coursekit`` command: :func:`main`, then the process's exit.  After Ctrl-C that exit
    is bounded: a library's exit handler or a thread that hangs is killed after
    ``interrupt.CLOSE_SECONDS`` (a caller of ``main`` in its own process keeps running)."""
    code = main()
    if code == EXIT_INTERRUPTED:
        interrupt.end_if_stuck()  # never cancelled: the process is ending
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
