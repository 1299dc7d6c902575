"""course.toml: parsed once into frozen dataclasses; bad keys and types are named."""
import dataclasses
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "course.toml"
    path.write_text(text)
    return path


def real_text():
    return (ROOT / "course.toml").read_text()


def test_real_config_parses():
    """Does the course's own course.toml parse, with both assignments and the thresholds?"""
    course = load_config(ROOT / "course.toml")
    assert set(course.assignments) == {"two_layer_net", "fc_net"}
    assert course.assignment("two_layer_net").thresholds["test_accuracy"] == 0.36
    assert course.assignment("fc_net").thresholds["val_accuracy"] == 0.50
    assert course.stub in ("raise", "pass")
    assert course.limits.memory_mb > 0


def test_config_is_frozen():
    """Can a loaded configuration not be mutated mid-run?"""
    course = load_config(ROOT / "course.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        course.name = "x"
    with pytest.raises(TypeError):
        course.assignment("fc_net").train["reg"] = 1.0


def test_unknown_key_is_named_with_suggestion(tmp_path):
    """Is a typo in a key reported with the key, the file and the likely intended key?"""
    path = write(tmp_path, real_text().replace('notebooks = ["two_layer_net.ipynb"]',
                                               'notebook = ["two_layer_net.ipynb"]'))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "assignments.two_layer_net.notebook" in message and str(path) in message
    assert "Did you mean 'notebooks'" in message


def test_wrong_type_is_named(tmp_path):
    """Is a string where an integer belongs reported with the key and the value?"""
    path = write(tmp_path, real_text().replace("memory_mb = 6144", 'memory_mb = "6G"'))
    with pytest.raises(ConfigError, match=r"'grading.memory_mb' must be an integer, got str '6G'"):
        load_config(path)


def test_wrong_type_in_free_table(tmp_path):
    """Is a non-number threshold reported with its full key?"""
    path = write(tmp_path, real_text().replace("val_accuracy = 0.50", 'val_accuracy = "half"'))
    with pytest.raises(ConfigError, match="assignments.fc_net.thresholds.val_accuracy"):
        load_config(path)


def test_missing_required_key(tmp_path):
    """Is a missing required key named?"""
    path = write(tmp_path, real_text().replace('md5 = "c58f30108f718f92721af3b95e74349a"\n', ""))
    with pytest.raises(ConfigError, match="missing required key 'data.md5'"):
        load_config(path)


def test_bad_toml_syntax(tmp_path):
    """Does broken TOML name the file and the line?"""
    path = write(tmp_path, "[course\nname = 1\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(path)


def test_bad_stub_style(tmp_path):
    """Is an unknown stub style refused with the allowed values?"""
    path = write(tmp_path, real_text().replace('stub = "raise"', 'stub = "todo"'))
    with pytest.raises(ConfigError, match="course.stub"):
        load_config(path)


def test_unknown_assignment_lists_known_ids():
    """Does an unknown assignment id list the ids that exist?"""
    course = load_config(ROOT / "course.toml")
    with pytest.raises(ConfigError, match="two_layer_net, fc_net.*Did you mean 'fc_net'"):
        course.assignment("fcnet")


def test_env_overrides_data_dir(tmp_path, monkeypatch):
    """Does CIFAR10_DIR take precedence over data.cifar10_dir?"""
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))
    assert load_config(ROOT / "course.toml").data.cifar10_dir == tmp_path.resolve()


def test_data_dir_is_relative_to_the_file(monkeypatch):
    """Is data.cifar10_dir resolved relative to course.toml, not the working directory?"""
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    assert load_config(ROOT / "course.toml").data.cifar10_dir == ROOT / "datasets" / "cifar-10-batches-py"


def test_missing_file(tmp_path):
    """Does a missing course.toml say where it looked?"""
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "course.toml")


def test_student_files_are_read(tmp_path):
    """Is the optional student_files list read, and a non-string entry named with its key?"""
    text = real_text().replace('notebooks = ["two_layer_net.ipynb"]',
                               'notebooks = ["two_layer_net.ipynb"]\nstudent_files = ["cs231n/solver.py"]')
    assert load_config(write(tmp_path, text)).assignment("two_layer_net").student_files == ("cs231n/solver.py",)
    assert load_config(ROOT / "course.toml").assignment("fc_net").student_files == ()
    bad = text.replace('student_files = ["cs231n/solver.py"]', "student_files = [3]")
    with pytest.raises(ConfigError, match="two_layer_net.student_files"):
        load_config(write(tmp_path, bad))


def test_isolation_mode_is_read_and_checked(tmp_path):
    """Is [grading] isolation read ("bwrap" by default, "degraded" allowed) and an unknown mode named?"""
    assert load_config(ROOT / "course.toml").limits.isolation == "bwrap"
    degraded = write(tmp_path, real_text().replace('isolation = "bwrap"', 'isolation = "degraded"'))
    assert load_config(degraded).limits.isolation == "degraded"
    bad = write(tmp_path, real_text().replace('isolation = "bwrap"', 'isolation = "none"'))
    with pytest.raises(ConfigError, match=r"'grading.isolation' must be one of"):
        load_config(bad)


def test_disk_budget_is_read_with_its_default(tmp_path):
    """Is [grading] disk_mb read (256 MB when absent), and a value that is not an integer named?"""
    assert load_config(ROOT / "course.toml").limits.disk_mb == 256
    line = next(line for line in real_text().splitlines() if line.startswith("disk_mb"))
    assert load_config(write(tmp_path, real_text().replace(line, ""))).limits.disk_mb == 256
    with pytest.raises(ConfigError, match=r"'grading.disk_mb' must be an integer"):
        load_config(write(tmp_path, real_text().replace(line, 'disk_mb = "lots"')))


def test_points_split_into_checks_and_questions():
    """Are [points] the grader's checks and [points.questions] the notebooks' manual cells, apart?"""
    fc = load_config(ROOT / "course.toml").assignment("fc_net")
    assert "questions" not in fc.points and "adam" in fc.points
    assert dict(fc.question_points) == {"inline_question_1_answer": 2, "inline_question_2_answer": 2}
    assert fc.max_score == sum(fc.points.values())


@pytest.mark.parametrize("old, new, message", [
    ('default = "visible"', 'default = "sometimes"', "'assignments.fc_net.visibility.default' must be one of"),
    ('default = "visible"', 'adma = "hidden"', "visibility.adma' names no check.*Did you mean 'adam'"),
    ("inline_question_2_answer = 2   # update_rules", 'inline_question_2_answer = "two"   #',
     "'assignments.fc_net.points.questions.inline_question_2_answer' must be a number"),
])
def test_visibility_and_question_mistakes_are_named(tmp_path, old, new, message):
    """Is a bad visibility, a visibility for no check, or a non-number question point named with its key?"""
    path = write(tmp_path, real_text().replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_visibility_falls_back_to_the_default(tmp_path):
    """Does a check without its own visibility take the default, and one with it its own?"""
    path = write(tmp_path, real_text().replace('default = "visible"', 'default = "after_due_date"\nadam = "hidden"'))
    fc = load_config(path).assignment("fc_net")
    assert (fc.visibility_of("adam"), fc.visibility_of("relu_forward")) == ("hidden", "after_due_date")
    assert load_config(ROOT / "course.toml").assignment("two_layer_net").visibility_of("loss") == "visible"


# --- flows: [assignments.<id>.flows.<flow>] tables over the assignment's own keys ------------

def test_the_two_layer_assignment_has_both_flows():
    """Is the committed course on the neural_net flow, with a modular table whose keys replace its own?"""
    course = load_config(ROOT / "course.toml")
    neural = course.assignment("two_layer_net")
    assert neural.flow == "neural_net" and neural.flow_tables == ("modular",)
    assert "cs231n/classifiers/neural_net.py" in neural.modules and "toy_training" in neural.points
    modular = course.with_flow("two_layer_net", "modular").assignment("two_layer_net")
    assert modular.flow == "modular"
    assert "cs231n/classifiers/fc_net.py" in modular.modules and "neural_net.py" not in str(modular.modules)
    assert modular.notebooks == ("modular/two_layer_net.ipynb",)
    assert "two_layer_gradients" in modular.points and "toy_training" not in modular.points
    assert dict(modular.question_points) == {"inline_question_1_answer": 2, "inline_question_2_answer": 2}
    assert modular.thresholds == neural.thresholds  # not in the flow's table: the assignment's own
    assert modular.where("points") == "assignments.two_layer_net.flows.modular.points"
    assert modular.where("thresholds") == "assignments.two_layer_net.thresholds"
    back = course.with_flow("two_layer_net", "modular").with_flow("two_layer_net", "neural_net")
    assert back.assignment("two_layer_net").points == neural.points
    assert course.assignment("fc_net").flow == ""


def test_a_flow_switched_in_the_file_is_the_same_as_with_flow(tmp_path):
    """Does `flow = "modular"` in course.toml give what Course.with_flow gives?"""
    path = write(tmp_path, real_text().replace('flow = "neural_net"', 'flow = "modular"'))
    in_file = load_config(path).assignment("two_layer_net")
    switched = load_config(ROOT / "course.toml").with_flow("two_layer_net", "modular").assignment("two_layer_net")
    assert (in_file.modules, in_file.points, in_file.grade_train) == (switched.modules, switched.points,
                                                                       switched.grade_train)


@pytest.mark.parametrize("old, new, message", [
    ('[assignments.two_layer_net.flows.modular.grade_train]\n', '[assignments.two_layer_net.flows.modular.grade_train]\nx = 1\n[assignments.two_layer_net.flows.modular.grading]\n',
     "unknown key 'assignments.two_layer_net.flows.modular.grading'"),
    ("two_layer_gradients = 4", 'two_layer_gradients = "four"',
     "'assignments.two_layer_net.flows.modular.points.two_layer_gradients' must be an integer or a number"),
    ('notebooks = ["modular/two_layer_net.ipynb"]', 'notebooks = "modular/two_layer_net.ipynb"',
     "'assignments.two_layer_net.flows.modular.notebooks' must be a list"),
])
def test_a_mistake_in_the_inactive_flow_is_named(tmp_path, old, new, message):
    """Is a mistake in a flow's table found while the course is on another flow, named with its table?"""
    assert real_text().count(old) == 1
    path = write(tmp_path, real_text().replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_config(path)
