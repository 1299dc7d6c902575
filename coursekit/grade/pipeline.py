"""``grade_submission``: grade one student folder for one assignment.

A grade has three phases.  ``grade_submission`` runs them in one process; class mode runs
the second on Dask workers (:mod:`coursekit.classroom.batch`), with the same code:

1. *prepare* (:func:`prepare_grade`, where the course is): refuse a course root inside the
   submission; validate the course's ``points``, ``thresholds`` and ``grade_train``; choose the
   hidden seed; build the checks (inputs from the grader's seeds, references from ``source/``);
   stage the submission (its modules, the kit's fallbacks and the saved model the grader scores)
   and pack it with the checks' child tasks into a :class:`.job.GradeJob` (inputs only: no
   reference, no solution code; the training task names its CIFAR-10 slices);
2. *execute* (:func:`execute_grade`, anywhere the kit and the dataset are): make sure student
   code can be isolated (bubblewrap and cgroups, or the degraded mode asked for), else stop;
   unpack the staged files once into the grade's private folder; run the quick tasks in one
   sandboxed child (a crash resumes in a fresh one; the saved model is read there too) while
   the training task runs in a second child, which hands back its weights as it goes: each
   look is scored with the kit's own forward pass on held-out images, and the run stops once
   it clears the bar with a margin (``checks/training_rule.py``); score the saved model (it is
   read from the child's file, so here); return the raw outcomes and the scores, and delete
   everything;
3. *judge* (:func:`judge_grade`, where the course is): judge every case against the references
   and make the report.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import Course
from ..data.split import LazySplit
from ..errors import ConfigError, GradingError
from ..solution import solution_module
from . import saved_models
from .checks import accuracy
from .checks.base import Check, CaseResult, building, explain_once
from .checks import reference_cache
from .checks.needed import chooser
from .checks.layers import layer_checks
from .checks.modular_two_layer import modular_two_layer_checks
from .checks.nets import net_checks
from .checks.two_layer import two_layer_checks
from .diagnose import Diagnosis, Evidence, diagnose
from .feedback import feedback_format
from .job import Execution, GradeJob, pack_folder, staged_digest, unpack_into
from .report import GradeReport, TestResult
from .sandbox import registry
from .sandbox.parent import Outcome, Sandbox, Task
from .submission import StagedSubmission, stage_submission

# assignment -> flow (course.toml's `assignments.<id>.flow`) -> its code checks.  A course
# without the key gets the first flow; "" is an assignment with one flow only.
CODE_CHECKS = {
    "two_layer_net": {"neural_net": two_layer_checks,  # CS231n 2017-2020: classifiers/neural_net.py
                      "modular": modular_two_layer_checks},  # CS231n 2021+: classifiers/fc_net.py + Solver
    "fc_net": {"": lambda: [*layer_checks(), *net_checks()]},
}
DATA_CHECKS = ("cifar_accuracy", "saved_model")
STAGES = ("running your functions", "loading CIFAR-10", "training your net on CIFAR-10",
          "waiting for your functions", "scoring your saved model", "judging")  # what ``progress`` hears
REQUIRED_THRESHOLDS = {"two_layer_net": ("test_accuracy", "review_above"),
                       "fc_net": ("val_accuracy", "review_above")}
SOLUTION_MODULES = {  # imported before any check is built: a broken source/ fails at once
    "two_layer_net": {"neural_net": ("classifiers.neural_net",),
                      "modular": ("layers", "classifiers.fc_net", "solver")},
    "fc_net": {"": ("layers", "optim", "classifiers.fc_net", "solver")},
}


def grader_flow(course: Course, assignment_id: str) -> str:
    """The flow the grader grades ``assignment_id`` in: course.toml's ``flow``, else the first it knows."""
    if assignment_id not in CODE_CHECKS:
        raise ConfigError(f"{course.path}: the grader has no checks for assignment '{assignment_id}'; "
                          f"it grades {', '.join(CODE_CHECKS)}.")
    flows = CODE_CHECKS[assignment_id]
    flow = course.assignment(assignment_id).flow or next(iter(flows))
    if flow not in flows:
        known = [name for name in flows if name]
        raise ConfigError(f"{course.path}: key 'assignments.{assignment_id}.flow' is {flow!r}, but the grader "
                          + (f"grades {assignment_id} in the flows {', '.join(map(repr, known))}."
                             + _close(flow, known) if known else
                             f"has one flow for {assignment_id}: remove the key."))
    return flow


def _close(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def build_checks(course: Course, assignment_id: str, hidden_seed: int | None = None) -> list[Check]:
    """The assignment's code checks, their references computed from the solution in ``source/``.

    Without ``hidden_seed``, only the public cases (inputs from the fixed GRADER_SEED, all
    scored). With it, each check also gets the hidden cases drawn from that seed, which are
    then the scored ones (see :mod:`.checks.base`).
    """
    flow = grader_flow(course, assignment_id)
    reference_cache.note_import(course.source_dir)  # the bytes the solution is imported from (before it is)
    for name in SOLUTION_MODULES[assignment_id][flow]:
        solution_module(course, name)
    with reference_cache.public_references(course.source_dir, f"{assignment_id}-{flow or 'default'}",
                                           _cache_folder()):
        checks = CODE_CHECKS[assignment_id][flow]()
    if hidden_seed is None:
        return checks
    with building(hidden_seed, hidden=True):
        hidden = CODE_CHECKS[assignment_id][flow]()
    for check, secret in zip(checks, hidden, strict=True):
        check.merge(secret)
    return checks


def _cache_folder() -> Path | None:
    """Where the public build's references are kept between processes: the grader's state folder."""
    try:
        return registry.state_dir() / reference_cache.CACHE_FOLDER
    except GradingError:  # no usable state folder: this process keeps them, no other
        return None


def validate_assignment(course: Course, assignment_id: str, names: list[str]) -> None:
    """The points table names exactly the checks in ``names``; thresholds and grade_train are usable."""
    assignment = course.assignment(assignment_id)
    flow = grader_flow(course, assignment_id)
    graded = f" (flow {flow!r})" if flow else ""
    for key in assignment.points:
        if key not in names:
            raise ConfigError(f"{course.path}: key '{assignment.where('points')}.{key}' names no check of the "
                              f"grader{graded}. Checks: {', '.join(names)}.")
    for key in names:
        if key not in assignment.points:
            raise ConfigError(f"{course.path}: missing key '{assignment.where('points')}.{key}': give the "
                              f"check{graded} points.")
        if assignment.points[key] < 0:
            raise ConfigError(f"{course.path}: key '{assignment.where('points')}.{key}' must not be negative.")
    for key in REQUIRED_THRESHOLDS[assignment_id]:
        if key not in assignment.thresholds:
            raise ConfigError(f"{course.path}: missing key '{assignment.where('thresholds')}.{key}'.")
    accuracy.check_grade_train(assignment_id, assignment.grade_train, str(course.path), flow,
                               assignment.where("grade_train"))


def course_secrets(course: Course, fast: bool = False) -> tuple[Path, ...]:
    """What student code must never read: the course root (source/, solutions/), the kit, the data."""
    kit = Path(__file__).resolve().parents[1]
    paths = {course.root, course.source_dir, course.solutions_dir, kit}
    if not fast:
        paths.add(course.data.cifar10_dir)
    return tuple(sorted(p.resolve() for p in paths))


def check_submission_folder(course: Course, submission: Path, assignment_id: str) -> None:
    """The submission exists, and the course (its configuration and code) is not inside it."""
    if not submission.is_dir():
        raise GradingError(f"The submission folder {submission} does not exist. Pass the folder that "
                           f"holds cs231n/ (laid out like release/{assignment_id}/).")
    root = course.root.resolve()
    if root == submission or submission in root.parents:
        raise GradingError(f"The course root {root} (course.toml, source/) is inside the submission "
                           f"{submission}: the grader would use the submission's own configuration and "
                           "solution. Run coursekit from the course repository (or pass --config) and "
                           "keep submissions outside it.")


def grade_submission(course: Course, assignment_id: str, submission_dir, *, results_path=None,
                     feedback_path=None, fast: bool = False, seed: int | None = None,
                     insecure: bool = False, progress=None, notes=()) -> GradeReport:
    """Grade ``submission_dir`` for ``assignment_id``; write results.json / feedback if asked.

    ``fast=True`` skips the CIFAR-10 checks (no dataset needed).  ``seed`` draws the hidden
    cases (fresh for every grade unless given: results.json records it).  ``insecure=True``
    allows the degraded isolation (no bubblewrap) whatever course.toml says.  ``progress``, if
    given, is called with the name of each stage as it starts (see ``STAGES``).  Raises
    ConfigError, DatasetError or GradingError only when the grader itself cannot run (also
    when student code cannot be isolated).  ``notes``: lines about how the submission was read
    (say, an upload's layout), shown first among the report's notes.

    The three phases of a grade run here in one process; class mode runs the middle one on
    Dask workers (:mod:`coursekit.classroom.batch`).
    """
    start = time.monotonic()
    step = progress or (lambda stage: None)
    if feedback_path is not None:
        feedback_format(feedback_path)  # an unknown extension is an error before anything runs
    check_submission_folder(course, Path(submission_dir).resolve(), assignment_id)
    data = LazySplit(lambda: accuracy.load_cifar10(course))
    sandbox = Sandbox(submission=None, limits=course.limits, secrets=course_secrets(course, fast),
                      isolation="degraded" if insecure else course.limits.isolation)
    try:
        with timed(ahead := {}, "sandbox start"):
            sandbox.prestart()  # the child loads Python and numpy while the checks are built
        prepared = prepare_grade(course, assignment_id, submission_dir, fast=fast, seed=seed, insecure=insecure,
                                 data=data, notes=notes)
        prepared.seconds.update(ahead)
        # Here the references are at hand: numeric gradients that no judgement needs are left out.
        execution = execute_grade(prepared.job, data, progress=step, sandbox=sandbox,
                                  choose=chooser(prepared.checks, prepared.aliases))
    finally:
        sandbox.close()
    report = judge_grade(course, prepared, execution, data, progress=step)
    if feedback_path is not None:
        with timed(report.seconds, "reports"):
            report.write_feedback(Path(feedback_path))
    report.execution_time = time.monotonic() - start
    if results_path is not None:
        report.write_results(Path(results_path))
    return report


@contextlib.contextmanager
def timed(seconds: dict, stage: str):
    """Add the wall time of the block to ``seconds[stage]`` (a stage of the report's profile)."""
    begin = time.monotonic()
    try:
        yield
    finally:
        seconds[stage] = round(seconds.get(stage, 0.0) + time.monotonic() - begin, 3)


@dataclass
class PreparedGrade:
    """Phase 1's result, kept where the course is: the job to run, and the checks that judge it."""

    job: GradeJob
    checks: list[Check]  # their judges hold the references: never sent anywhere
    names: list[str]  # every check of the points table, in its order
    seed: int  # the hidden cases' seed, recorded in the report
    submission: Path
    fast: bool
    staged: StagedSubmission  # where each staged file came from (its folder is gone: the job holds the bytes)
    notes: tuple[str, ...] = ()  # the caller's lines about how the submission was read
    aliases: dict[str, str] = field(default_factory=dict)  # task id -> the identical task run for it
    seconds: dict[str, float] = field(default_factory=dict)  # the phase's stages (the report's profile)


def prepare_grade(course: Course, assignment_id: str, submission_dir, *, fast: bool = False,
                  seed: int | None = None, insecure: bool = False, data=None,
                  blas_threads: int = 1, notes=()) -> PreparedGrade:
    """Phase 1 (where the course is): stage the submission, choose the hidden seed, build the
    checks and from them the job (inputs only, no references).  ``data``: the CIFAR-10 split the
    training check is judged on (read at judging time; a data.split.LazySplit loads it then)."""
    assignment = course.assignment(assignment_id)
    submission = Path(submission_dir).resolve()
    check_submission_folder(course, submission, assignment_id)  # before anything reads the course
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    stages: dict[str, float] = {}
    with timed(stages, "building checks"):
        checks = build_checks(course, assignment_id, hidden_seed=seed)
    names = [check.name for check in checks] + list(DATA_CHECKS)
    validate_assignment(course, assignment_id, names)
    seconds = float(course.limits.check_seconds)
    # In each check, its large-input gradient task first (checks/analytic.py): the verdict, derived
    # or numeric, must not wait behind the check's small cases, which a numeric gradient makes slow.
    # A numeric gradient is optional: where the references are, it runs only if a judgement needs it.
    quick_tasks, aliases = distinct([replace(t, seconds=seconds, optional=t.driver == "grid") for c in checks
                                     for t in sorted(c.tasks, key=lambda task: task.driver != "analytic")])
    training: tuple = ()
    rule = None
    if not fast:
        accuracy.check_cifar10_files(course)  # before any child starts
        quick_tasks.append(saved_models.load_task(assignment_id, seconds))  # read with the quick checks
        flow = grader_flow(course, assignment_id)
        trainer = accuracy.training_check(assignment_id, assignment.grade_train, assignment.thresholds,
                                          data, float(course.limits.cpu_seconds), flow=flow)
        checks.append(trainer)
        training = tuple(trainer.tasks)
        rule = accuracy.training_rule(assignment_id, assignment.grade_train, assignment.thresholds,
                                      accuracy.grade_train_images(assignment.grade_train, data), flow)
    folder = Path(tempfile.mkdtemp(prefix="coursekit-staged-"))
    try:
        with timed(stages, "staging"):
            staged = stage_submission(course, assignment_id, submission, folder,
                                      saved_models=() if fast else saved_models.SAVED_FILES[assignment_id],
                                      saved_bytes=saved_models.MAX_FILE_BYTES)
            files = pack_folder(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    job = GradeJob(assignment_id, files, staged_digest(files), tuple(quick_tasks), training, course.limits,
                   "degraded" if insecure else course.limits.isolation, course_secrets(course, fast),
                   blas_threads, rule)
    return PreparedGrade(job, checks, names, seed, submission, fast, staged, tuple(notes), aliases, stages)


def distinct(tasks: list[Task]) -> tuple[list[Task], dict[str, str]]:
    """``tasks`` without repeats, and each left-out task's id -> the id of the identical one kept.

    Identical: the same driver, spec, inputs (dtype, shape, bytes), limits.  The hidden build
    repeats the public tasks whose inputs are public by design (the dropout configurations, the
    toy problem), and two checks can run the same forward pass (the batchnorm backward passes'
    numeric gradients): the child runs each once and both are judged on its outcome.
    """
    kept: dict[str, str] = {}
    unique, aliases = [], {}
    for task in tasks:
        digest = hashlib.sha256(json.dumps([task.driver, task.spec, task.seconds, task.lazy, task.optional],
                                           sort_keys=True, default=str).encode())
        for key in sorted(task.inputs):
            value = np.asarray(task.inputs[key])
            digest.update(f"\0{key}\0{value.dtype.str}{value.shape}\0".encode() + value.tobytes())
        original = kept.setdefault(digest.hexdigest(), task.id)
        if original == task.id:
            unique.append(task)
        else:
            aliases[task.id] = original
    return unique, aliases


def execute_grade(job: GradeJob, data=None, *, progress=None, choose=None, sandbox: Sandbox | None = None
                  ) -> Execution:
    """Phase 2 (anywhere the kit and the dataset are): run every task of ``job`` in the sandbox.

    The staged files go once to the grade's private folder (:class:`Sandbox`); the quick tasks
    run in one child (a crash resumes in a fresh one) while the training task's CIFAR-10 slices
    are read from ``data`` and it trains in a second child.  The saved model, read by the quick
    child, is scored here (with ``data``).  Everything written is deleted before returning the
    raw outcomes.  ``choose``: which optional tasks the quick child runs (see
    :func:`.checks.needed.chooser`; without it, all of them).  ``sandbox``: the grade's, made
    (and a child started ahead) by the caller for the job's limits and isolation; closed here.
    Raises GradingError (IsolationError) when student code cannot be isolated as the job asks.
    """
    step, start, stages = progress or (lambda stage: None), time.monotonic(), {}
    if sandbox is None:
        sandbox = Sandbox(submission=None, limits=job.limits, secrets=job.secrets, isolation=job.isolation)
    elif (sandbox.limits, sandbox.isolation, tuple(sandbox.secrets)) != (job.limits, job.isolation, job.secrets):
        sandbox.close()
        raise GradingError("The sandbox given for this grade was made for other limits or another isolation "
                           "than its job's. Grade it again.")
    try:
        with timed(stages, "sandbox start"):
            sandbox.prepare()  # refuses (IsolationError) when student code cannot be isolated
            unpack_into(job, sandbox.code_dir)  # once, in the grade's private folder
    except BaseException:
        sandbox.close()
        raise
    outcomes: dict[str, Outcome] = {}
    saved = None
    quick = threading.Thread(target=lambda: outcomes.update(sandbox.run_tasks(list(job.quick), choose=choose)))
    try:
        step("running your functions")
        quick.start()
        if job.training:
            step("loading CIFAR-10")
            with timed(stages, "loading CIFAR-10"):
                tasks = [accuracy.resolve_inputs(task, data) for task in job.training]
                looks = job.training_rule.looks(data) if job.training_rule else None
            step("training your net on CIFAR-10")
            outcomes.update(sandbox.run_tasks(tasks, threads=job.blas_threads,
                                              on_look=looks.on_look if looks else None))
            for task in tasks if looks else ():  # the parent's score, from its own looks, goes with the outcome
                if task.id in outcomes:
                    outcomes[task.id].scored = looks.result(outcomes[task.id])
        if quick.is_alive():
            step("waiting for your functions")
            quick.join()
        if SAVED_TASK in outcomes:  # read from the child's output file, which close() deletes
            step("scoring your saved model")
            with timed(stages, "saved-model scoring"):
                saved = _guarded_score(job.assignment_id, outcomes.pop(SAVED_TASK), data)
    finally:
        if quick.is_alive():
            quick.join()
        with timed(stages, "sandbox end"):
            sandbox.close()
    stages.update(child_stages(sandbox, {task.id for task in job.training}))
    stages["execute"] = round(time.monotonic() - start, 3)
    return Execution(job.digest, outcomes, dict(sandbox.seconds), sandbox.protections, time.monotonic() - start,
                     saved, stages, dict(sandbox.cpu))


def child_stages(sandbox: Sandbox, training: set[str]) -> dict[str, float]:
    """The children's wall time by stage, summed over the quick children and the training ones."""
    stages: dict[str, float] = {}
    for child in sandbox.children:
        kind = "training child" if child["first_task"] in training else "child"
        for key, name in (("setup", "setup"), ("ahead", "started ahead (while the checks were built)"),
                          ("start", "start (bubblewrap, Python, numpy)"),
                          ("until_first_task", "start to first task"), ("end", "end")):
            label = f"{kind} {name}"
            stages[label] = round(stages.get(label, 0.0) + child[key], 3)
        stages[f"{kind}ren"] = stages.get(f"{kind}ren", 0) + 1
    for task_id, seconds in sandbox.seconds.items():
        label = "training" if task_id in training else "child tasks"
        stages[label] = round(stages.get(label, 0.0) + seconds, 3)
    return stages


def judge_grade(course: Course, prepared: PreparedGrade, execution: Execution, data=None, *,
                progress=None) -> GradeReport:
    """Phase 3 (where the course is): judge the outcomes against the references, score the
    saved model with the kit's own forward pass, and make the report (written by the caller)."""
    step, begin = progress or (lambda stage: None), time.monotonic()
    if execution.digest != prepared.job.digest:
        raise GradingError("The outcomes that came back belong to another submission's files (content hash "
                           f"{execution.digest[:12]}, expected {prepared.job.digest[:12]}). Grade it again.")
    assignment_id, checks = prepared.job.assignment_id, prepared.checks
    assignment = course.assignment(assignment_id)
    saved: list[tuple[Check, list[CaseResult]]] = []
    if not prepared.fast:
        saved.append(accuracy.saved_model_check(assignment_id, execution.saved or _NOT_SCORED,
                                                assignment.thresholds))
    step("judging")
    ran = execution.outcomes
    ran = {**ran, **{alias: ran[original] for alias, original in prepared.aliases.items() if original in ran}}
    outcomes, explained = explain_once([task for check in checks for task in check.tasks], ran)
    tests = [_judge(check, assignment.points[check.name], outcomes, explained) for check in checks]
    tests += [_result(check, assignment.points[check.name], results) for check, results in saved]
    tests.sort(key=lambda t: prepared.names.index(t.key))
    seconds = execution.seconds
    profile = dict(prepared.seconds)
    for stage, value in (execution.stages or {}).items():  # "sandbox start": ahead of preparing, then executing
        profile[stage] = round(profile.get(stage, 0) + value, 3)
    profile["judging"] = round(time.monotonic() - begin, 3)
    return GradeReport(assignment_id, tests, protections=execution.protections,
                       skipped={name: assignment.points[name] for name in DATA_CHECKS} if prepared.fast else {},
                       seconds={"checks": round(sum(v for k, v in seconds.items()
                                                    if not k.startswith("cifar_accuracy")), 2),
                                "training": seconds.get("cifar_accuracy.train"),
                                "training_cpu": execution.cpu.get("cifar_accuracy.train"), **profile},
                       hidden_seed=prepared.seed,
                       notes=[*prepared.notes, *prepared.staged.notes,
                              *prepared.staged.replacement_notes(o.outputs for o in outcomes.values() if o.ok)])


SAVED_TASK = "saved_model.load"  # saved_models.load_task's id
_NOT_SCORED = accuracy.SavedModelScore(read_error="the saved model was not read (the grade stopped before)")


def _guarded_score(assignment_id: str, loaded: Outcome, data) -> accuracy.SavedModelScore:
    """The saved model's score; any failure of it costs the saved-model check only, never the grade."""
    try:
        return accuracy.score_saved_model(assignment_id, loaded, data)
    except Exception as err:  # noqa: BLE001 - hostile files must cost this check only
        return accuracy.SavedModelScore(model_error=f"it could not be evaluated ({type(err).__name__})")


def _judge(check: Check, points: float, outcomes: dict[str, Outcome],
           explained: dict[str, str] | None = None) -> TestResult:
    results = []
    for label, judge in check.cases:
        try:
            result = judge(outcomes)
            if result is not None:  # None: a case that does not count here (a shape of wrong values)
                results.append(result)
        except Exception as err:  # noqa: BLE001 - a bad value must cost this case, not the grade
            results.append(CaseResult(label, False, f"the grader could not judge what came back "
                                      f"({type(err).__name__}: {err})"))
    test = _result(check, points, results)
    if not test.passed:
        test.diagnoses = [Diagnosis("explained-once", explained[task.id]) for task in check.tasks
                          if task.id in (explained or {})] or diagnose(Evidence.of(check, outcomes, results))
    return test


def _result(check: Check, points: float, results: list[CaseResult]) -> TestResult:
    return TestResult(key=check.name, title=check.title, function=check.function, file=check.file,
                      hint=check.hint, max_score=float(points), cases=results, places=list(check.places),
                      after=list(check.after))
