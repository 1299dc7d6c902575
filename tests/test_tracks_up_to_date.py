"""The committed tracks: are release/ and solutions/ exactly what source/ generates?"""
from pathlib import Path

from coursekit.tracks import check_tracks
from coursekit.cli import main
from coursekit.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_committed_tracks_match_source():
    """Would `coursekit build` change nothing in release/, solutions/ or nbgrader_config.py?"""
    diff = check_tracks(load_config(ROOT / "course.toml"))
    assert diff == [], "\n".join(diff) + "\nRun `coursekit build` and commit the result."


def test_build_check_command_passes(capsys):
    """Does `coursekit build --check` exit 0 on the committed tree?"""
    assert main(["--config", str(ROOT / "course.toml"), "build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
