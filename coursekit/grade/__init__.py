"""The autograder: grade a student's submission in a sandboxed child, judge it in the parent.

Folders and modules, in the order a grade flows through them:

- :mod:`.pipeline` — ``grade_submission``, the public entry point, and the config checks;
- :mod:`.checks` — what is checked: :mod:`.checks.base` (what a check is, the judges, the
  named tolerances), :mod:`.checks.two_layer`, :mod:`.checks.layers`, :mod:`.checks.nets`
  (the code checks) and :mod:`.checks.accuracy` (CIFAR-10 training and saved models);
- :mod:`.sandbox` — how student code runs: :mod:`.sandbox.parent` starts and watches the
  child in bubblewrap (:mod:`.sandbox.isolation`) and a cgroup (:mod:`.sandbox.cgroups`),
  :mod:`.sandbox.untrusted` reads what comes back, :mod:`.sandbox.harness` is the child's side;
- :mod:`.models` — the kit's own forward pass over a saved model's parameters;
- :mod:`.diagnose` — the likely cause of a failed check, from the outputs alone;
- :mod:`.report` — the terminal table, Gradescope's results.json and the feedback.
"""
from .pipeline import grade_submission
from .report import GradeReport

__all__ = ["GradeReport", "grade_submission"]
