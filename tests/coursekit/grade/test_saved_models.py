"""The saved model (coursekit/grade/saved_models.py): read in a sandboxed child, scored by the parent.

Each case writes a model file into a submission, has a real sandbox read it (the pipeline's own
staging and task), and scores it with synthetic CIFAR-shaped data whose labels are the argmax of
the kit's in-memory reference forward pass (coursekit/grade/models.py): a forward pass that agrees
with the reference scores 1.0.
"""
from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from coursekit.grade import models, saved_models
from coursekit.grade.checks.accuracy import saved_model_check, score_saved_model
from coursekit.grade.submission import stage_submission
from coursekit.grade.sandbox.parent import Sandbox

D, C = 3 * 32 * 32, 10
N_EVAL, N_TRAIN = 500, 2_500
AGREEMENT = 0.998  # share of images on which the streamed and in-memory forward passes agree
THRESHOLDS = {"fc_net": {"val_accuracy": 0.5, "review_above": 1.01},
              "two_layer_net": {"test_accuracy": 0.36, "review_above": 1.01}}
MEASURE_SECONDS = 600


def data_for(assignment: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    split = "val" if assignment == "fc_net" else "test"
    return {f"X_{split}": rng.normal(size=(N_EVAL, 3, 32, 32)).astype(np.float32),
            f"y_{split}": np.zeros(N_EVAL, np.int64),
            "X_train": rng.normal(size=(N_TRAIN, 3, 32, 32)).astype(np.float32)}


def fc_params(hidden, norm: str, dtype=np.float64, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dims, p = [D, *hidden, C], {}
    for i in range(1, len(dims)):
        p[f"W{i}"] = rng.normal(0, 1 / np.sqrt(dims[i - 1]), (dims[i - 1], dims[i])).astype(dtype)
        p[f"b{i}"] = rng.normal(0, 0.1, dims[i]).astype(dtype)
        if i < len(dims) - 1 and norm != "none":
            p[f"gamma{i}"] = (1 + rng.normal(0, 0.1, dims[i])).astype(dtype)
            p[f"beta{i}"] = rng.normal(0, 0.1, dims[i]).astype(dtype)
    return p


def reference_scores(p, norm: str, data, split: str, stats: dict | None = None) -> np.ndarray:
    """The kit's in-memory forward pass; batchnorm statistics from the first BN_STATS_IMAGES training images."""
    q = {k: v.astype(np.float64).reshape(-1) if k[0] != "W" else v.astype(np.float64) for k, v in p.items()}
    layers = sum(k.startswith("W") for k in q)
    X = data[f"X_{split}"].reshape(N_EVAL, -1).astype(np.float64)
    if norm == "batchnorm":
        q = {**q, **stats} if stats else models.recalibrate_batchnorm(
            q, data["X_train"][:saved_models.BN_STATS_IMAGES].reshape(-1, D).astype(np.float64), layers)
    return models.fc_scores(q, X, layers, norm)


def read_and_score(tmp_path: Path, course, assignment: str, files: dict[str, bytes], data,
                   isolation: str = "bwrap"):
    """Write ``files`` into a submission, then score it as the pipeline does (:func:`score_submission`)."""
    submission = tmp_path / "submission"
    submission.mkdir()
    for relpath, content in files.items():
        (submission / relpath).parent.mkdir(parents=True, exist_ok=True)
        (submission / relpath).write_bytes(content)
    return score_submission(course, assignment, submission, data, isolation)


def score_submission(course, assignment: str, submission: Path, data, isolation: str = "bwrap"):
    """The pipeline's way: stage the submission's saved-model files, read them in a child, score them."""
    box = Sandbox(submission=None, limits=course.limits, isolation=isolation)
    try:
        box.prepare()
        stage_submission(course, assignment, submission, box.code_dir,
                         saved_models=saved_models.SAVED_FILES[assignment], saved_bytes=saved_models.MAX_FILE_BYTES)
        loaded = box.run_tasks([saved_models.load_task(assignment, course.limits.check_seconds)])["saved_model.load"]
        return saved_model_check(assignment, score_saved_model(assignment, loaded, data), THRESHOLDS[assignment])[1]
    finally:
        box.close()


def npy(params) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, params)  # the official format: a pickled 0-d object array holding the dict
    return buffer.getvalue()


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


CASES = {
    # id: (assignment, hidden, normalization scored, official format?, dtype, keepdims biases)
    "official-fc-batchnorm": ("fc_net", [64, 32], "batchnorm", True, np.float32, False),
    "official-fc-none": ("fc_net", [48], "none", True, np.float64, True),
    "official-two-layer": ("two_layer_net", [40], "none", True, np.float64, False),
    "kit-fc-batchnorm": ("fc_net", [64, 32], "batchnorm", False, np.float64, False),
    "kit-two-layer": ("two_layer_net", [40], "none", False, np.float32, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_saved_models_score_as_the_kits_reference_forward_pass(quick_course, tmp_path, case):
    """Are both formats (official pickled .npy, the kit's .npz) read in the child and scored in agreement
    with the kit's in-memory forward pass, architecture inferred, batchnorm statistics computed when absent?"""
    assignment, hidden, norm, official, dtype, keepdims = CASES[case]
    split = "val" if assignment == "fc_net" else "test"
    data = data_for(assignment)
    p = fc_params(hidden, norm, dtype)
    stats = None
    if not official and norm == "batchnorm":  # the kit's file carries the statistics it was saved with
        rng = np.random.default_rng(2)
        stats = {f"running_{s}{i}": np.abs(rng.normal(0.5, 0.2, h)) for i, h in enumerate(hidden, 1)
                 for s in ("mean", "var")}
    data[f"y_{split}"] = reference_scores(p, norm, data, split, stats).argmax(axis=1)
    saved = {k: (v.reshape(1, -1) if keepdims and v.ndim == 1 else v) for k, v in p.items()}
    official_file, kit_file = saved_models.SAVED_FILES[assignment]
    if official:
        files = {official_file: npy(saved)}
    else:
        extra = {"normalization": np.array(norm), "hidden_dims": np.array(hidden)} if assignment == "fc_net" else {}
        files = {kit_file: npz(arch=np.array(assignment), **extra, **saved, **(stats or {}))}
    results = read_and_score(tmp_path, quick_course, assignment, files, data)
    assert [r.passed for r in results] == [True, True, True], [r.detail for r in results]
    accuracy = float(results[2].detail.split()[2])
    assert accuracy >= AGREEMENT and f"{norm} net" in results[2].detail, results[2].detail


def test_an_official_layernorm_model_is_scored_as_layernorm(quick_course, tmp_path):
    """The official params do not say whether gamma/beta are batchnorm's or layernorm's: is a layernorm
    net scored as one (the better of the two readings counts)?"""
    data = data_for("fc_net")
    p = fc_params([64], "layernorm")
    data["y_val"] = reference_scores(p, "layernorm", data, "val").argmax(axis=1)
    results = read_and_score(tmp_path, quick_course, "fc_net", {saved_models.SAVED_FILES["fc_net"][0]: npy(p)}, data)
    assert results[2].passed and "layernorm net" in results[2].detail, results[2].detail


@pytest.mark.parametrize("how, words", [
    ("float16", "save float32 or float64"),
    ("unknown key", "unexpected keys ['velocity']"),
    ("nan", "NaN or infinite"),
    ("not a dict", "not the params dict"),
    ("too big", "more than 1 MB"),
    ("missing", "no saved model"),
])
def test_unusable_saved_models_cost_the_check_with_one_line(quick_course, tmp_path, monkeypatch, how, words):
    """Is a saved model in float16, with unknown keys, with NaN, not a dict, over the caps, or absent refused
    with a line saying why (and nothing else of the grade touched)?"""
    p = fc_params([16], "none")
    if how == "float16":
        p["W1"] = p["W1"].astype(np.float16)
    elif how == "unknown key":
        p["velocity"] = np.zeros(3)
    elif how == "nan":
        p["W2"][0, 0] = np.nan
    elif how == "too big":
        monkeypatch.setattr(saved_models, "MAX_MODEL_BYTES", 2**20 - 1)
        p["W1"] = np.zeros((D, 64))  # 1.5 MB
    if how == "not a dict":  # a pickled list of the arrays, not the dict model.save writes
        p = np.empty((), dtype=object)
        p[()] = list(fc_params([16], "none").values())
    content = npy(p)
    files = {} if how == "missing" else {saved_models.SAVED_FILES["fc_net"][0]: content}
    results = read_and_score(tmp_path, quick_course, "fc_net", files, data_for("fc_net"))
    assert not results[2].passed and words in results[2].detail, results[2].detail


class Payload:
    """A pickled object that runs code when it is loaded: it writes a file on the host, if it can."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        code = (f"(lambda p: (open(p, 'w').write('ran'), 1) if __import__('os').access(__import__('os').path."
                f"dirname(p), __import__('os').W_OK) else 0)({str(self.marker)!r}) or "
                "(_ for _ in ()).throw(RuntimeError('SEEN-the-payload-ran-SEEN'))")
        return eval, (code,)


@pytest.mark.parametrize("isolation", ["bwrap", "degraded"])
def test_a_pickle_that_runs_code_runs_it_only_inside_the_sandbox(quick_course, tmp_path, monkeypatch, isolation):
    """Does a pickled .npy whose loading runs code run it in the child only: it ran (its error comes back),
    yet the file it tried to write on the host is absent?"""
    if isolation == "degraded" and os.geteuid() != 0:
        pytest.skip("the degraded mode switches uid: it needs root")
    marker = tmp_path / "host" / "written-by-the-pickle"
    marker.parent.mkdir()
    content = pickle.dumps(Payload(marker), protocol=2)
    buffer = io.BytesIO()
    np.save(buffer, np.array(None, dtype=object))  # an .npy header for a 0-d object array, then the pickle
    header = buffer.getvalue()[:-len(pickle.dumps(None, protocol=3))]
    results = read_and_score(tmp_path, quick_course, "fc_net",
                             {saved_models.SAVED_FILES["fc_net"][0]: header + content}, data_for("fc_net"),
                             isolation=isolation)
    assert "SEEN-the-payload-ran-SEEN" in results[0].detail, results[0].detail
    assert not marker.exists()


MAXIMAL = textwrap.dedent("""\
    import sys
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_saved_models import data_for, score_submission
    from coursekit.config import load_config

    def hwm():
        return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) * 1024

    course, data = load_config({config!r}), data_for("fc_net")
    np.ones((200, 3072)) @ np.ones((3072, 8))  # BLAS's own buffers, before the measure
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # the peak back to what is resident now (making the data peaked above it)
    before = hwm()
    results = score_submission(course, "fc_net", Path({submission!r}), data)
    assert results[1].passed, results[1].detail
    print((hwm() - before) / 2**20)
""")


def test_a_maximal_saved_model_is_scored_without_the_parent_growing(course, tmp_path):
    """Is a saved model at the caps (float64, batchnorm statistics to compute) read in the child and scored
    by the parent with its peak memory (VmHWM, measured in a fresh process) growing by less than
    MAX_SCORING_GROWTH_MB?"""
    hidden = [3000, 1000]  # float64 weights close to MAX_MODEL_BYTES
    p = fc_params(hidden, "batchnorm")
    assert 0.9 * saved_models.MAX_MODEL_BYTES < sum(v.nbytes for v in p.values()) <= saved_models.MAX_MODEL_BYTES
    path = tmp_path / "submission" / saved_models.SAVED_FILES["fc_net"][0]
    path.parent.mkdir(parents=True)
    np.save(path, p)
    del p
    script = MAXIMAL.format(tests=str(Path(__file__).parent), submission=str(tmp_path / "submission"),
                            config=str(course.path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=MEASURE_SECONDS)
    assert done.returncode == 0, done.stderr[-3000:]
    growth_mb = float(done.stdout.split()[-1])
    print(f"maximal saved model: {path.stat().st_size / 2**20:.0f} MB file, parent peak grew by {growth_mb:.1f} MB")
    assert growth_mb < saved_models.MAX_SCORING_GROWTH_MB
