"""autograder/seed_sweep.py: a mistake's grade must not depend on the hidden seed."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "autograder" / "seed_sweep.py"


def load_sweep():
    spec = importlib.util.spec_from_file_location("seed_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_two_mistakes_that_varied_now_score_the_same_on_every_seed(tmp_path, capsys):
    """Real grades (fast mode, three seeds): does each of the mistakes that once depended on the
    seed get one score, and is a modular mistake skipped with a reason, not an error?"""
    sweep = load_sweep()
    out = tmp_path / "sweep.json"
    code = sweep.main(["--seeds", "1-3", "--json", str(out), "--only", "tln-relu-on-scores",
                       "dropout-at-test-time", "tln-modular-forward-no-relu"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "tln-modular-forward-no-relu: skipped" in printed and "0 of 2 mistakes" in printed
    rows = json.loads(out.read_text())
    assert {row["id"] for row in rows} == {"tln-relu-on-scores", "dropout-at-test-time"}
    for row in rows:
        assert len({grade["score"] for grade in row["grades"].values()}) == 1, row
        assert all(grade["lost"] for grade in row["grades"].values())  # the mistake costs points


def test_a_score_that_varies_is_reported_with_the_checks_it_lost(monkeypatch, capsys):
    """A grader whose hidden case catches the mistake on one seed only: exit code 1, and each seed's losses."""
    sweep = load_sweep()
    scores = iter([10.0, 9.0])

    def grade(*args):
        score = next(scores)
        return {"score": score, "lost": {"predict": 0.0} if score < 10 else {}}

    monkeypatch.setattr(sweep, "grade", grade)
    assert sweep.main(["--seeds", "1,2", "--only", "tln-relu-on-scores"]) == 1
    printed = capsys.readouterr().out
    assert "tln-relu-on-scores: VARIES 9, 10" in printed and "seed 2: 9, lost in {'predict': 0.0}" in printed


def test_seeds_are_a_range_or_a_list():
    sweep = load_sweep()
    assert sweep.seeds_of("1-4") == [1, 2, 3, 4] and sweep.seeds_of("3,7") == [3, 7]


def test_a_grade_that_writes_no_results_is_a_clear_error_not_the_last_grade(tmp_path):
    """A grade that fails before writing results.json (here: an unknown assignment) must stop the
    sweep with a message that names it, never reuse the previous grade's file."""
    import pytest

    sweep = load_sweep()
    results = tmp_path / "results.json"
    results.write_text('{"score": 1.0, "tests": []}')  # a previous grade's
    submission = tmp_path / "sub"
    submission.mkdir()
    with pytest.raises(SystemExit, match="grading sub with seed 1 wrote no results"):
        sweep.grade("no_such_assignment", submission, 1, False, results)
