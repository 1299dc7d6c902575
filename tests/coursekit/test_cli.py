"""The command line: help everywhere, clean errors, and python -m."""
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_command_has_help(name, capsys):
    """Does every command have a help line and a --help page?"""
    sub = subcommands()[name]
    assert sub.description, f"coursekit {name} has no description"
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert "usage: coursekit" in capsys.readouterr().out


def test_python_dash_m_works():
    """Does `python -m coursekit --help` run?"""
    out = subprocess.run([sys.executable, "-m", "coursekit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout


def test_config_typo_is_one_clean_paragraph(tmp_path, capsys):
    """Does a typo in course.toml end with a one-paragraph error and no traceback?"""
    bad = tmp_path / "course.toml"
    bad.write_text((ROOT / "course.toml").read_text().replace("[grading]", "[gradng]"))
    code = main(["--config", str(bad), "train", "two_layer_net"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown key 'gradng'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_wrong_dataset_dir_is_one_clean_paragraph(tmp_path, monkeypatch, capsys):
    """Does a wrong CIFAR10_DIR give one clear error naming the folder and the fix?"""
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "nowhere"))
    code = main(["--config", str(ROOT / "course.toml"), "train", "fc_net", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and str(tmp_path / "nowhere") in err
    assert "coursekit data" in err and "Traceback" not in err


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_says_what_it_does(name):
    """Does every option and argument of every command have its own help text?"""
    missing = [action.dest for action in subcommands()[name]._actions
               if not action.help and action.dest != "help"]
    assert not missing, f"coursekit {name}: no help for {missing}"


def test_gradebook_help_says_every_check_is_written():
    """Does `grade --help` say that --gradebook writes each check's score (not "each total"), and that a fast
    run keeps the scores of the checks it skips?"""
    text = " ".join(subcommands()["grade"].format_help().split())
    assert "each total" not in text
    assert "score for every check this run graded" in text and "--gradebook keeps the scores" in text


def test_coursekit_fast_in_the_environment_is_fast_mode(monkeypatch, tmp_path, capsys):
    """Does COURSEKIT_FAST=1 (which nbgrader autograde and run_autograder read) make `coursekit grade` skip the
    CIFAR-10 checks as --fast does, so that the README's recipe runs in one mode throughout?"""
    import coursekit.grade as grade
    from coursekit.grade.report import GradeReport

    seen = []

    def fake(course, assignment, folder, fast=False, **kwargs):
        seen.append(fast)
        return GradeReport(assignment, [], skipped={"cifar_accuracy": 5.0} if fast else {})

    monkeypatch.setattr(grade, "grade_submission", fake)
    monkeypatch.delenv("COURSEKIT_FAST", raising=False)
    (tmp_path / "cs231n").mkdir()
    assert main(["grade", "fc_net", str(tmp_path)]) == 0
    monkeypatch.setenv("COURSEKIT_FAST", "1")
    assert main(["grade", "fc_net", str(tmp_path)]) == 0
    assert seen == [False, True]
    assert "not graded (fast mode)" in capsys.readouterr().out
