"""The autograder: grade a student's submission in a jailed child, judge it in the parent.

Modules, in the order a grade flows through them:

- :mod:`.grade` — ``grade_submission``, the public entry point, and the config checks;
- :mod:`.two_layer_checks`, :mod:`.layer_checks`, :mod:`.net_checks` — the code checks;
- :mod:`.accuracy` and :mod:`.models` — CIFAR-10 training, saved models, the kit's forward pass;
- :mod:`.checks` — what a check is, the judges and the named tolerances;
- :mod:`.sandbox` (parent) and :mod:`.jail`, :mod:`.harness` (child) — running student code;
- :mod:`.report` — the terminal table, Gradescope's results.json and the feedback.
"""
from .grade import grade_submission
from .report import GradeReport

__all__ = ["GradeReport", "grade_submission"]
