"""The benchmark suite in its tiny mode: does it run, and does its JSON hold every row?

Only the shape of the output is checked, never a timing: the figures depend on the machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT = 600  # seconds; the tiny mode needs well under a minute on an idle machine
NETS = ("two_layer", "deep_bn", "wide_dropout")
PENALIZED = ("two_layer", "wide_dropout")  # reg > 0: also timed in torch with the penalty in its loss
DTYPES = ("float32", "float64")
ROW_KEYS = {"section", "name", "value", "unit", "detail", "target", "note", "data"}
REFERENCE_ROWS = {"two_layer_net reference test accuracy", "two_layer_net reference training wall time",
                  "fc_net reference val accuracy", "fc_net reference training wall time",
                  "fc_net reference time to val 0.50"}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--threads", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| section | benchmark |" in proc.stdout
    return json.loads(out.read_text())


def names(report: dict, section: str) -> set[str]:
    return {row["name"] for row in report["rows"] if row["section"] == section}


def test_every_section_reports(report):
    """Does each of the seven sections contribute rows, each with the same keys?"""
    assert report["mode"] == "tiny"
    assert report["sections"] == ["gemm", "train", "threshold", "reference", "kit", "profile", "compare"]
    assert {row["section"] for row in report["rows"]} == set(report["sections"])
    assert all(set(row) == ROW_KEYS for row in report["rows"])


def test_gemm_has_a_ceiling_per_dtype(report):
    """Is there a measured GEMM ceiling for float32 and for float64?"""
    ceilings = [row for row in report["rows"] if row["data"].get("ceiling")]
    assert sorted(row["data"]["dtype"] for row in ceilings) == list(DTYPES)
    assert all(row["value"] > 0 for row in ceilings)
    assert all(row["data"]["fraction_of_ceiling"] <= 1 for row in report["rows"]
               if row["section"] == "gemm" and not row["data"].get("ceiling") and not row["name"].startswith("torch "))


def test_train_has_numpy_torch_and_ratio_rows(report):
    """Does every net and dtype get a numpy row, a torch row and a ratio row (skipped without torch)?"""
    expected = {f"{net} {dtype} {what}" for net in NETS for dtype in DTYPES
                for what in ("numpy", "torch", "numpy/torch")}
    expected |= {f"{net} {dtype} {what}" for net in PENALIZED for dtype in DTYPES
                 for what in ("torch, penalty in its loss", "numpy/torch, penalty in its loss")}
    assert names(report, "train") == expected
    numpy_rows = [r for r in report["rows"] if r["section"] == "train" and r["name"].endswith(" numpy")]
    assert all(r["value"] > 0 and r["data"]["images_per_s"] > 0 for r in numpy_rows)
    torch_rows = [r for r in report["rows"] if r["section"] == "train" and r["name"].endswith("torch")]
    assert all(r["value"] is not None or r["note"].startswith("skipped") for r in torch_rows)


def test_threshold_and_kit_rows_are_named_even_when_skipped(report):
    """Are the time-to-threshold and kit rows present, skipped with a reason in tiny mode?"""
    threshold = names(report, "threshold")
    assert any("to val 0.50" in name for name in threshold)
    assert any("to test 0.36" in name for name in threshold)
    assert any(name.startswith("coursekit build") for name in names(report, "kit"))
    assert any(name.startswith("coursekit grade") for name in names(report, "kit"))
    skipped_rows = [r for r in report["rows"] if r["section"] in ("threshold", "kit")]
    assert all(r["value"] is None and r["note"].startswith("skipped") for r in skipped_rows)


def test_reference_rows_come_from_a_tiny_training(report):
    """Does the reference section name both trainings' rows, filled by a few steps on synthetic data?"""
    rows = {r["name"]: r for r in report["rows"] if r["section"] == "reference"}
    assert set(rows) == REFERENCE_ROWS
    accuracies = [r for r in rows.values() if r["unit"] == "accuracy"]
    assert all(0 <= r["value"] <= 1 and r["target"].startswith(">=") for r in accuracies)
    assert all(r["note"].startswith("tiny") for r in rows.values())
    assert "val_accuracy" in rows["fc_net reference time to val 0.50"]["data"]["seconds_to"]


def test_compare_times_old_against_new(report):
    """Does each compare row carry both timings of its old and new variant?"""
    rows = [r for r in report["rows"] if r["section"] == "compare" and r["value"] is not None]
    assert any(r["name"].startswith("optim.adam") for r in rows)
    assert all(r["data"]["old_seconds"] > 0 and r["data"]["new_seconds"] > 0 for r in rows)


def test_baseline_is_timed_in_the_same_rounds(tmp_path):
    """With --baseline (here a folder: this course), does every net and dtype get a row for the
    baseline's numpy code and a numpy/baseline ratio, beside the usual rows?"""
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--threads", "1", "--only", "train",
                           "--baseline", str(ROOT), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
    for net in NETS:
        for dtype in DTYPES:
            baseline = rows[f"{net} {dtype} numpy baseline ({ROOT})"]
            assert baseline["value"] > 0 and baseline["data"]["page_faults_per_step"] >= 0
            assert rows[f"{net} {dtype} numpy/baseline"]["value"] > 0


def test_unknown_baseline_is_a_usage_error():
    """Does a --baseline that is neither a folder nor a git revision stop the run with exit
    code 2 and a message that names it?"""
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--only", "train",
                           "--baseline", "no-such-revision-or-folder"],
                          cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT)
    assert proc.returncode == 2
    assert "--baseline no-such-revision-or-folder" in proc.stderr and "Traceback" not in proc.stderr


def test_the_profile_times_a_fast_grade_by_stage(report):
    """Does the profile time a fast grade from outside and give its stages, from its results.json?"""
    rows = {row["name"]: row for row in report["rows"] if row["section"] == "profile"}
    grade = rows["coursekit grade two_layer_net --fast"]
    assert grade["value"] > 0 and grade["target"] == "<= 1.0 s" and grade["detail"].endswith("11.0/11.0")
    stages = {name.split(": ", 1)[1] for name in rows if name.startswith("  coursekit grade two_layer_net --fast: ")}
    assert {"building checks", "staging", "child tasks", "judging", "outside the grade (interpreter, imports, "
            "course.toml, printing, exit)"} <= stages
    assert any(name.startswith("floor: ") for name in rows)
