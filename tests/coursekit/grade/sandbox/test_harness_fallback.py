"""The harness's import fallback: the student's module first, the course's copy only when it fails."""
from __future__ import annotations

import numpy as np
import pytest

from coursekit.grade.checks.accuracy import resolve_inputs, training_check
from coursekit.grade.sandbox.parent import Sandbox, Task
from coursekit.grade.submission import stage_submission

from ..conftest import copy_solution

TINY = {"hidden_dims": [6], "normalization": None, "weight_scale": 5e-2, "update_rule": "sgd",
        "learning_rate": 1e-3, "batch_size": 10, "num_epochs": 1}


@pytest.fixture
def run(quick_course, tmp_path):
    """Stage ``files`` over the fc_net solution and run ``tasks`` on it; (outcomes, replacement notes)."""
    def go(files: dict[str, str], tasks: list[Task]):
        submission = copy_solution(quick_course, "fc_net", tmp_path / "sub")
        for relpath, text in files.items():
            (submission / relpath).write_text(text)
        staged = stage_submission(quick_course, "fc_net", submission, tmp_path / "staged")
        box = Sandbox(submission=staged.folder, limits=quick_course.limits)
        try:
            outcomes = box.run_tasks(tasks)
        finally:
            box.close()
        return outcomes, staged.replacement_notes(o.outputs for o in outcomes.values() if o.ok)
    return go


def training_task() -> Task:
    rng = np.random.default_rng(0)
    data = {f"X_{split}": rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
            for split, n in (("train", 60), ("val", 20), ("test", 20))}
    data.update({f"y_{split}": rng.integers(0, 10, n) for split, n in (("train", 60), ("val", 20), ("test", 20))})
    return resolve_inputs(training_check("fc_net", TINY, {"val_accuracy": 0.0}, data, 60.0).tasks[0], data)


def net_task() -> Task:
    init = {"cls": "cs231n.classifiers.fc_net:FullyConnectedNet", "args": [[5]],
            "kwargs": {"input_dim": 4, "num_classes": 3}}
    return Task("net", "call", {"init": init, "keep_params": True}, {}, 10.0)


def test_a_solver_that_fails_to_import_is_replaced_and_named(run):
    """Does a solver.py that imports torch train with the course's Solver, with one line saying so?"""
    task = training_task()
    outcomes, notes = run({"cs231n/solver.py": "import torch\n"}, [task])
    assert outcomes[task.id].ok, outcomes[task.id].error
    assert notes == ["cs231n/solver.py: your copy imports torch, which the grader does not have; "
                     "the course's copy was used."]


def test_the_students_own_solver_is_used_when_it_imports(run, quick_course):
    """Is a Solver of the student's own that imports fine the one that trains (no note)?"""
    own = (quick_course.source_dir / "cs231n/solver.py").read_text().replace(
        "        if self.best_params:\n            self.model.params = self.best_params\n",
        "        self.model.params['b1'] = self.model.params['b1'] * 0 + 7.0  # this Solver's mark\n")
    assert "this Solver's mark" in own
    task = training_task()
    outcomes, notes = run({"cs231n/solver.py": own}, [task])
    assert outcomes[task.id].ok, outcomes[task.id].error
    assert np.all(outcomes[task.id].outputs["param_b1"] == 7.0) and notes == []


def test_a_package_init_that_fails_is_replaced(run):
    """Does a classifiers/__init__.py that imports a missing module give way to the course's, with a note?"""
    outcomes, notes = run({"cs231n/classifiers/__init__.py": "from .linear_svm import *\n"}, [net_task()])
    assert outcomes["net"].ok, outcomes["net"].error
    assert notes == ["cs231n/classifiers/__init__.py: your copy imports cs231n.classifiers.linear_svm, which is "
                     "not in your submission; the course's copy was used."]


def test_a_graded_module_that_fails_is_never_replaced(run):
    """Does a layers.py that imports torch fail its checks (the student's code), with no course copy used?"""
    outcomes, notes = run({"cs231n/layers.py": "import torch\n"}, [net_task()])
    assert not outcomes["net"].ok and "could not be imported" in outcomes["net"].error
    assert "torch" in outcomes["net"].error and notes == []
