"""autograder/margin.py in its tiny mode, and the variants it trains.

Only the shape of the output is checked, never an accuracy or a time: the tiny mode trains
on noise for a few steps.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "autograder" / "margin.py"
SMOKE_TIMEOUT = 600  # seconds; only stops a hang (the tiny run needs seconds on an idle machine)
MIN_VARIANTS = 6  # correct implementations per assignment (issue 12)
TINY_VARIANTS = ("reference", "keepdims")


def load_margin():
    spec = importlib.util.spec_from_file_location("margin", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def margin():
    return load_margin()


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("margin") / "margin.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--seeds", "1", "--variants",
                           ",".join(TINY_VARIANTS), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| assignment | variant | runs | stopped early | judged: worst / median |" in proc.stdout
    return json.loads(out.read_text())


def test_tiny_run_writes_one_row_per_variant_and_seed(tiny_report, margin):
    """Does a tiny run write, for each assignment (and flow), one scored row per variant and seed,
    and a summary?"""
    assert tiny_report["tiny"] is True and len(tiny_report["commands"]) == 1
    assert set(tiny_report["assignments"]) == {"two_layer_net", "two_layer_net/modular", "fc_net"}
    for assignment, entry in tiny_report["assignments"].items():
        ran = [v["id"] for v in margin.load_variants() if v["assignment"] == assignment and v["id"] in TINY_VARIANTS]
        assert [(row["variant"], row["seed"]) for row in entry["runs"]] == [(v, 0) for v in ran]
        for row in entry["runs"]:
            assert row["assignment"] == assignment
            assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["final"] <= 1.0
            assert row["train_seconds"] >= 0 and row["load_average"] >= 0
            # one look every look_every steps, each scored on the rule's images and the independent ones
            assert [look[0] for look in row["looks"]] == [entry["look_every"] * (i + 1) for i in range(len(row["looks"]))]
            assert row["looks"] and all(0.0 <= look[2] <= 1.0 and 0.0 <= look[3] <= 1.0 for look in row["looks"])
            stop = next((look for look in row["looks"] if look[2] >= entry["stop_at"]), None)
            assert row["stopped_at"] == (stop[0] if stop else None)
            assert row["accuracy"] == (stop[2] if stop else row["final"])
        assert set(entry["per_variant"]) == set(ran)
        accs = [row["accuracy"] for row in entry["runs"]]
        assert entry["summary"]["worst"] == min(accs) and entry["summary"]["best"] == max(accs)
        assert entry["summary"]["runs"] == len(ran)


def test_every_assignment_has_enough_correct_variants(margin):
    """Does margin_variants.toml hold at least six correct variants of each assignment, with unique ids?"""
    variants = margin.load_variants()
    for assignment in margin.SCORED:
        ids = [v["id"] for v in variants if v["assignment"] == assignment]
        assert len(ids) >= MIN_VARIANTS, assignment
        assert len(set(ids)) == len(ids), assignment
        assert "reference" in ids


def test_every_patch_applies_to_the_current_solution(margin):
    """Does each variant's patch still match the solution in source/, change it, and compile?"""
    from coursekit.config import load_config

    course = load_config(ROOT / "course.toml")
    for variant in margin.load_variants():
        assignment, flow_course = margin.target_course(course, variant["assignment"])
        modules = flow_course.assignment(assignment).modules
        files = {rel: (course.source_dir / rel).read_text() for rel in modules}
        patched = margin.apply_patches(files, variant, "margin_variants.toml")
        changed = {rel for rel in files if patched[rel] != files[rel]}
        assert changed == {p["module"] for p in variant["patch"]}, variant["id"]
        for rel in changed:
            compile(patched[rel], rel, "exec")


def test_each_assignment_has_a_slow_learning_variant_of_grade_train_keys(margin):
    """Does each assignment have a variant that learns slowly (other grade_train values, the case the budget
    left after an early stop is for), and does every variant's hyper name keys the grader's run uses?"""
    variants = margin.load_variants()
    for assignment in margin.SCORED:
        slow = [v for v in variants if v["assignment"] == assignment and v["hyper"]]
        assert slow, assignment
        for variant in slow:
            assert set(variant["hyper"]) <= set(margin.grade_train_keys(assignment)), variant["id"]


def test_a_variant_with_an_unknown_grade_train_key_is_refused(margin, tmp_path):
    """Is a variant whose hyper names a key the grader's run does not use an error naming it?"""
    bad = tmp_path / "variants.toml"
    bad.write_text('[[variant]]\nid = "x"\nassignment = "fc_net"\nsummary = "s"\nhyper = { momentum = 0.9 }\n')
    with pytest.raises(margin.MarginError, match="'x' sets momentum"):
        margin.load_variants(bad)


def test_stale_patch_is_reported_with_the_variant_and_module(margin):
    """Is a patch whose text is no longer in the solution an error naming the variant, the module and the fix?"""
    variant = {"id": "stale", "patch": [{"module": "cs231n/layers.py", "find": "no such line", "replace": "x"}]}
    with pytest.raises(margin.MarginError, match=r"'stale'.*cs231n/layers.py(.|\n)*Update the patch"):
        margin.apply_patches({"cs231n/layers.py": "def f():\n    pass\n"}, variant, "margin_variants.toml")


def test_merge_combines_reports_of_one_configuration(margin, tiny_report):
    """Does --merge keep each (variant, seed) run once and refuse runs of another grade_train?"""
    other = json.loads(json.dumps(tiny_report))
    for row in other["assignments"]["fc_net"]["runs"]:
        row["seed"] = 1
    merged = margin.merge([tiny_report, tiny_report, other], ["a.json", "a.json", "b.json"])
    assert merged["assignments"]["two_layer_net"]["summary"]["runs"] == len(TINY_VARIANTS)
    assert merged["assignments"]["two_layer_net/modular"]["summary"]["runs"] == 1  # reference only
    assert merged["assignments"]["fc_net"]["summary"]["runs"] == 2 * len(TINY_VARIANTS)
    assert len(merged["commands"]) == 3
    other["assignments"]["fc_net"]["grade_train"]["num_epochs"] = 99
    with pytest.raises(margin.MarginError, match="b.json: fc_net .*another grade_train"):
        margin.merge([tiny_report, other], ["a.json", "b.json"])
