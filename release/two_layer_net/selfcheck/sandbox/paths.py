"""Reading a submission without ever leaving it.

Every path taken from a submission is walked one component at a time from a descriptor of
the submission's own folder, and no component is ever opened through a link (``O_NOFOLLOW``):
the kernel follows nothing, so a link, or a link swapped in while the grader reads, cannot
take a read outside the folder.  A link is resolved here instead, against the folder the link
sits in (``..`` included), and followed only when its target stays inside the submission (a
student's own file under another name); a link that leaves (an absolute path elsewhere, too
many ``..``), loops or needs more than :data:`MAX_LINK_HOPS` hops is not followed, and is
reported as a :class:`Refused` entry: what it stands for counts as missing.

Only the standard library is used: the students' self-check ships this file.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

MAX_LINK_HOPS = 16  # links followed to resolve one path
MAX_TREE_ENTRIES = 10_000  # files and folders of a submission looked at in one walk
MAX_TREE_DEPTH = 20
MAX_PY_BYTES = 2 * 2**20  # a .py file larger than this is not copied (real modules are < 100 kB)
CHUNK = 1 << 20
OUTSIDE = "a link to a place outside your submission"
LEAVES = "a path that leaves your submission"
LOOP = "a link that loops (or a chain of more than 16 links)"
NOT_REGULAR = "not a regular file (a pipe, socket or device)"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class RefusedError(OSError):
    """A path of the submission that the grader does not read (``why`` says what it is)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path} is {why}")
        self.path, self.why = path, why


@dataclass(frozen=True)
class Refused:
    """An entry of the submission that was not read, and why."""

    path: str  # relative to the submission, as the student named it
    why: str

    def note(self, consequence: str = "so it counts as missing") -> str:
        """One line for the feedback: what it is, that it was not read, and what follows."""
        return f"{self.path} is {self.why}; it was not read, {consequence}."


@dataclass(frozen=True)
class Entry:
    """A regular file of the submission (reached without leaving it), or a refused entry."""

    path: str
    refused: Refused | None = None


class Tree:
    """A submission folder, read only through :meth:`read`, :meth:`open_file` and :meth:`walk`.

    Use it as a context manager (it holds a descriptor of the folder)::

        with Tree(folder) as tree:
            text = tree.read("cs231n/layers.py", max_bytes=1 << 20)
    """

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self._real = os.path.realpath(self.folder)
        self._fd = os.open(self.folder, _DIR_FLAGS & ~os.O_NOFOLLOW)  # the caller chose this folder

    def __enter__(self) -> "Tree":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # --- one path ---------------------------------------------------------------------------

    def open_file(self, path: str) -> int:
        """A read-only descriptor of the regular file at ``path`` (the caller closes it).

        Raises RefusedError (a link that leaves, a loop, not a regular file),
        FileNotFoundError or NotADirectoryError.
        """
        folder_fd, name, st = self._locate(path)
        try:
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(path) if stat.S_ISDIR(st.st_mode) else RefusedError(path, NOT_REGULAR)
            fd = os.open(name, _FILE_FLAGS, dir_fd=folder_fd)
        finally:
            os.close(folder_fd)
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise RefusedError(path, "a file that changed while it was read")
        return fd

    def read(self, path: str, max_bytes: int) -> bytes:
        """The bytes of the regular file at ``path``; a ValueError when it is larger than ``max_bytes``."""
        fd = self.open_file(path)
        try:
            if os.fstat(fd).st_size > max_bytes:
                raise ValueError(f"{path} is larger than {max_bytes / 2**20:g} MB")
            data = bytearray()
            while len(data) <= max_bytes and (chunk := os.read(fd, min(CHUNK, max_bytes + 1 - len(data)))):
                data += chunk
        finally:
            os.close(fd)
        if len(data) > max_bytes:  # it grew after the size was read
            raise ValueError(f"{path} is larger than {max_bytes / 2**20:g} MB")
        return bytes(data)

    def copy(self, path: str, target, max_bytes: int) -> int:
        """Copy the regular file at ``path`` to ``target`` (a new file), in chunks: the bytes copied.
        A ValueError when it is (or grows) larger than ``max_bytes``; nothing is left at ``target`` then."""
        fd = self.open_file(path)
        copied = 0
        try:
            if os.fstat(fd).st_size > max_bytes:
                raise ValueError(f"{path} is larger than {max_bytes / 2**20:g} MB")
            with open(target, "xb") as out:
                while chunk := os.read(fd, CHUNK):
                    copied += len(chunk)
                    if copied > max_bytes:
                        break
                    out.write(chunk)
        finally:
            os.close(fd)
        if copied > max_bytes:
            os.unlink(target)
            raise ValueError(f"{path} is larger than {max_bytes / 2**20:g} MB")
        return copied

    def take(self, path: str, max_bytes: int) -> bytes | Refused | None:
        """:meth:`read`, with what goes wrong as a value: a :class:`Refused` (a link that leaves,
        a file larger than ``max_bytes``), or None when the file is gone."""
        try:
            return self.read(path, max_bytes)
        except RefusedError as err:
            return Refused(err.path, err.why)
        except ValueError:
            return Refused(path, f"larger than {max_bytes / 2**20:g} MB")
        except OSError:
            return None

    def _locate(self, path: str) -> tuple[int, str, os.stat_result]:
        """(descriptor of the folder holding ``path``'s entry, the entry's name, its lstat).

        Links inside the submission are followed; the entry itself is never a link.
        """
        stack = [os.dup(self._fd)]
        todo = [part for part in path.split("/") if part not in ("", ".")]
        given = len(todo)  # todo[:given] are still the caller's own components
        link = None  # the caller's path up to the first link met: what a refusal names
        hops = 0
        try:
            while todo:
                name = todo.pop(0)
                given -= 1
                if name == "..":
                    if len(stack) == 1:
                        raise RefusedError(link or path, OUTSIDE if link else LEAVES)
                    os.close(stack.pop())
                    continue
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    if link is None:
                        parts = [part for part in path.split("/") if part not in ("", ".")]
                        link = "/".join(parts[:len(parts) - max(given, 0)])
                    hops += 1
                    if hops > MAX_LINK_HOPS:
                        raise RefusedError(link, LOOP)
                    target = os.readlink(name, dir_fd=stack[-1])
                    if os.path.isabs(target):
                        inside = self._inside(target)
                        if inside is None:
                            raise RefusedError(link, OUTSIDE)
                        for fd in stack[1:]:
                            os.close(fd)
                        del stack[1:]
                        target = inside
                    todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                    continue
                if not todo:
                    return stack.pop(), name, st
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(path)
                stack.append(os.open(name, _DIR_FLAGS, dir_fd=stack[-1]))
            top = stack.pop()  # the path names a folder reached by "..": its own entry is "."
            return top, ".", os.fstat(top)
        finally:
            for fd in stack:
                os.close(fd)

    def _inside(self, target: str) -> str | None:
        """``target`` (absolute) relative to the submission, or None when it leaves it."""
        parts, root = target.split("/"), self._real.rstrip("/").split("/")
        if parts[:len(root)] != root:
            return None
        return "/".join(parts[len(root):])

    # --- every file -------------------------------------------------------------------------

    def walk(self, skip=lambda path: False, max_entries: int = MAX_TREE_ENTRIES,
             max_depth: int = MAX_TREE_DEPTH):
        """Every regular file under the folder (:class:`Entry`), and every entry refused.

        Links that stay inside are followed (a folder already on the path is not entered
        twice); ``skip(path)`` leaves out a file or a whole folder; at most ``max_entries``
        entries and ``max_depth`` levels are looked at.
        """
        root = os.dup(self._fd)
        st = os.fstat(root)
        pending = [(root, "", 0, frozenset({(st.st_dev, st.st_ino)}))]
        seen = 0
        try:
            while pending:
                fd, prefix, depth, ancestors = pending.pop()
                try:
                    names = sorted(os.listdir(fd))
                except OSError:
                    names = []
                for name in names:
                    path = prefix + name
                    if skip(path):
                        continue
                    seen += 1
                    if seen > max_entries:
                        return
                    try:
                        kind, child = self._child(fd, name, path)
                    except RefusedError as err:
                        yield Entry(path, Refused(path, err.why))
                        continue
                    except OSError:
                        continue  # gone, or not readable: as if it were not there
                    if kind == "file":
                        yield Entry(path)
                        continue
                    st = os.fstat(child)
                    key = (st.st_dev, st.st_ino)
                    if depth + 1 >= max_depth or key in ancestors:
                        os.close(child)
                        continue
                    pending.append((child, path + "/", depth + 1, ancestors | {key}))
                os.close(fd)
        finally:
            for fd, *_ in pending:
                os.close(fd)

    def _child(self, fd: int, name: str, path: str) -> tuple[str, int | None]:
        """("file", None) or ("dir", an open descriptor) for the entry ``name`` of folder ``fd``."""
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            folder_fd, name, st = self._locate(path)  # follows the link, inside only
            fd = folder_fd
        else:
            fd = os.dup(fd)
        try:
            if stat.S_ISREG(st.st_mode):
                return "file", None
            if stat.S_ISDIR(st.st_mode):
                return "dir", os.open(name, _DIR_FLAGS, dir_fd=fd)
            raise RefusedError(path, NOT_REGULAR)
        finally:
            os.close(fd)


def copy_python_files(source, dest, skip=lambda path: False) -> list[Refused]:
    """The ``.py`` files under ``source``, copied to the same paths under ``dest``; what was refused."""
    refused: list[Refused] = []
    with Tree(source) as tree:
        hidden = (lambda path: skip(path) or any(part.startswith(".") or part == "__pycache__"
                                                  for part in path.split("/")))
        for entry in tree.walk(skip=hidden):
            if entry.refused is not None:
                refused.append(entry.refused)
                continue
            if not entry.path.endswith(".py"):
                continue
            data = tree.take(entry.path, MAX_PY_BYTES)
            if not isinstance(data, bytes):
                refused += [data] if data is not None else []
                continue
            target = os.path.join(dest, entry.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
    return refused
