"""The grader's judges that combine other judges (copied from coursekit/grade/checks/)."""
from __future__ import annotations

from .base import CaseResult


def _all_of(label, judges):
    """One case over several parameters: it passes when every parameter's gradient does."""

    def judge(outcomes):
        results = [(name, judge(outcomes)) for name, judge in judges]
        failed = [(name, r) for name, r in results if not r.passed]
        worst = max((r.rel_error or 0.0 for _, r in results), default=0.0)
        if not failed:
            return CaseResult(label, True, rel_error=worst)
        name, first = failed[0]
        names = ", ".join(n for n, _ in failed)
        return CaseResult(label, False, f"wrong gradient on {names}; {name}: {first.detail}", first.rel_error)

    return judge
