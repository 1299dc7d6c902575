"""What a grade holds on the machine, recorded so that nothing of it outlives its grader.

The state folder (:func:`~.isolation.state_dir_path`: ``/run/coursekit`` for root, mode 0700,
owned by the grader's user, never a link) holds

- ``uids/<uid>``: one file per spare uid in use, created with ``O_EXCL``, naming its owner
  (:class:`~.owners.Owner`).  Two graders on one machine never get the same uid, whatever
  the random draw; a uid that an account or a running process already has is never taken;
- ``grades/<owner>-<random>``: the temporary folders of one grade in progress.

:func:`sweep` (run when a grade starts, and by ``coursekit grade --cleanup``) finds what
belongs to graders that are gone: it kills every process of their uids, deletes their
folders, and frees, kills and removes their cgroups (:func:`~.cgroups.sweep`).
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ...errors import IsolationError
from . import cgroups, isolation
from .owners import Owner
from .processes import kill_uid, uid_pids

SPARE_UIDS = (200_000, 900_000)  # owned by no account on a machine that follows the usual ranges
RESERVE_TRIES = 200


@dataclass(frozen=True)
class Swept:
    """What :func:`sweep` removed."""

    uids: int = 0
    folders: int = 0
    cgroups: int = 0

    def summary(self) -> str:
        return (f"removed what graders that are gone left behind: {self.uids} spare uids (their processes "
                f"killed), {self.folders} temporary folders, {self.cgroups} cgroups")


def state_dir() -> Path:
    """The state folder, made if needed; an IsolationError when it is not the grader's alone."""
    folder = isolation.state_dir_path()
    for sub in ("", "uids", "grades"):
        path = folder / sub
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as err:
            raise IsolationError(f"The grader cannot make its state folder {path} ({err.strerror}): set "
                                 f"{isolation.ENV_STATE_DIR} to a folder it may write.") from None
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise IsolationError(f"The grader's state folder {path} is not a folder of its own user with mode "
                                 f"0700 (someone else made it, or it is a link): remove it, or set "
                                 f"{isolation.ENV_STATE_DIR} to another folder.")
    return folder


def reserve_uid(host: bool = True) -> int:
    """A spare uid that no account, no other grade and (``host``: it will run processes on the host,
    to be killed by uid) no running process has; released with release_uid.

    The reservation is made whole before it appears: a file naming its owner is linked to
    ``uids/<uid>``, and ``link`` fails if that name exists, so two graders cannot both win.
    """
    folder = state_dir() / "uids"
    owner = Owner.me().tag
    draft = folder / f".{owner}-{secrets.token_hex(4)}"
    draft.write_text(owner + "\n")
    try:
        for _ in range(RESERVE_TRIES):
            uid = SPARE_UIDS[0] + secrets.randbelow(SPARE_UIDS[1] - SPARE_UIDS[0])
            if _has_account(uid):
                continue
            try:
                os.link(draft, folder / str(uid))
            except FileExistsError:
                continue
            if host and uid_pids(uid):  # processes of no account, and not ours: leave the uid alone
                (folder / str(uid)).unlink()
                continue
            return uid
    finally:
        draft.unlink()
    raise IsolationError(f"No spare uid is free in {SPARE_UIDS[0]}-{SPARE_UIDS[1]} ({folder} lists those "
                         "in use): run `coursekit grade --cleanup`.")


def release_uid(uid: int, kill: bool = True) -> None:
    """Kill whatever still runs as ``uid`` (unless ``kill`` is False: a uid no host process ever had,
    a bwrap child's or a grade's group) and free it."""
    if kill:
        kill_uid(uid)
    try:
        (state_dir() / "uids" / str(uid)).unlink()
    except FileNotFoundError:
        pass


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def record_folders(paths: list[Path]) -> Path:
    """Record the temporary folders of a grade in progress; returns the record (forget_folders)."""
    record = state_dir() / "grades" / f"{Owner.me().tag}-{secrets.token_hex(4)}"
    record.write_text(json.dumps([str(p) for p in paths]))
    os.chmod(record, 0o600)
    return record


def forget_folders(record: Path) -> None:
    try:
        record.unlink()
    except FileNotFoundError:
        pass


def sweep() -> Swept:
    """Kill, delete and remove what graders that are gone left: uids, folders, cgroups."""
    folder = state_dir()
    uids = folders = 0
    for entry in sorted((folder / "uids").iterdir()):
        try:
            if entry.name.startswith("."):  # a reservation being made (or left half-made)
                if _stale(entry, entry.name[1:].rsplit("-", 1)[0]):
                    entry.unlink(missing_ok=True)
            elif _stale(entry, entry.read_text(errors="replace").strip()):
                if entry.name.isdigit():
                    release_uid(int(entry.name))
                else:
                    entry.unlink(missing_ok=True)
                uids += 1
        except FileNotFoundError:  # released meanwhile by its grader (or by another sweep)
            continue
    for entry in sorted((folder / "grades").iterdir()):
        if _stale(entry, entry.name.rsplit("-", 1)[0]):
            for path in _recorded(entry):
                folders += _remove_folder(path)
            forget_folders(entry)
    return Swept(uids, folders, cgroups.sweep(isolation.cgroup_root()))


def _stale(entry: Path, tag: str) -> bool:
    owner = Owner.from_tag(tag)
    return owner is None or not owner.alive()


def _recorded(entry: Path) -> list[Path]:
    try:
        paths = json.loads(entry.read_text())
        return [Path(p) for p in paths if isinstance(p, str) and os.path.isabs(p)]
    except (OSError, ValueError):
        return []


def _remove_folder(path: Path) -> int:
    """Delete a grade's folder: a real folder of the grader's user only (never a link)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        return 0
    shutil.rmtree(path, ignore_errors=True)
    return 1
