"""Which optional tasks (the numeric gradients) a grade still needs, judged as the child runs.

A numeric gradient is the forward pass at every entry of the input moved by +-h: for the
nets' checks, hundreds of calls of ``loss``, most of a fast grade's time.  Its judges read it
only when the student's gradient differs from the solution's (:func:`.base.gradient_case`
passes a gradient equal to the reference at once) or when there is no reference (dropout).
So the parent runs the other tasks first and then names, one at a time, the optional tasks
that a judgement still needs (:meth:`.sandbox.parent.Sandbox.run_tasks`, ``choose``):

- a check whose every case passes without its optional tasks needs none of them;
- a check with a failing case that reads an optional task not run yet needs that task first;
- a check with failing cases that read no optional task not run yet needs all the rest of them.

So every check either passes with what it had, exactly as it would with every task run, or
fails with all its tasks run (its messages and diagnoses as before): leaving a task out
never changes a report.  The choice needs the references, so it is made where they are (a
single grade); class mode's workers run every task.
"""
from __future__ import annotations

from typing import Callable

from ..sandbox.parent import Outcome
from .base import Check


class _Reads:
    """Outcomes that remember which task ids a judge looked up (``get``, ``[]``, ``in``: what judges
    use; any other use raises, and a judge that raises needs every task)."""

    def __init__(self, outcomes: dict[str, Outcome]):
        self.outcomes, self.read = outcomes, set()

    def get(self, key, default=None):
        self.read.add(key)
        return self.outcomes.get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return self.outcomes[key]

    def __contains__(self, key):
        self.read.add(key)
        return key in self.outcomes


def needed_now(check: Check, outcomes: dict[str, Outcome], pending: set[str]) -> set[str]:
    """The tasks of ``pending`` (optional, not run yet; ids as the check names them) that ``check``
    needs next, judged on ``outcomes`` (see the module's docstring)."""
    mine = {task.id for task in check.tasks} & pending
    if not mine:
        return set()
    wanted, failing = set(), False
    for _, judge in check.cases:
        seen = _Reads(outcomes)
        try:
            result = judge(seen)
        except Exception:  # noqa: BLE001 - a judge that cannot judge yet needs everything
            failing, wanted = True, wanted | mine
            continue
        if result is None or result.passed:  # None: a case that does not count (a shape of wrong values)
            continue
        failing = True
        wanted |= seen.read & mine
    return (wanted or mine) if failing else set()


def chooser(checks: list[Check], aliases: dict[str, str] | None = None
            ) -> Callable[[dict[str, Outcome], list[str]], str | None]:
    """``choose(outcomes, candidates)`` for :meth:`Sandbox.run_tasks`: the first candidate some check
    needs now, or None.  ``aliases``: task id -> the id of the identical task that runs for it."""
    aliases = dict(aliases or {})
    users: dict[str, set[str]] = {}  # an id that runs -> the ids it stands for
    for alias, original in aliases.items():
        users.setdefault(original, {original}).add(alias)
    owners: dict[str, list[Check]] = {}
    for check in checks:
        for task in check.tasks:
            owners.setdefault(aliases.get(task.id, task.id), []).append(check)

    known: dict[int, tuple[frozenset, set[str]]] = {}  # check -> (its tasks that had run, what it needed)

    def choose(outcomes: dict[str, Outcome], candidates: list[str]) -> str | None:
        seen = dict(outcomes)
        seen.update({alias: outcomes[original] for alias, original in aliases.items() if original in outcomes})
        pending = {name for c in candidates for name in users.get(c, {c})}
        for check in {id(c): c for name in candidates for c in owners.get(name, [])}.values():
            ran = frozenset(task.id for task in check.tasks if task.id in seen)
            if id(check) not in known or known[id(check)][0] != ran:  # judged again once one of its tasks ran
                known[id(check)] = ran, needed_now(check, seen, pending)
            wanted = known[id(check)][1] & pending
            if wanted:
                return next(c for c in candidates if users.get(c, {c}) & wanted)
        return None

    return choose
