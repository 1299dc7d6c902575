"""The first program of every grading child: lock the process down, then exec the harness.

Run by the parent as ``python -I jail.py CONFIG_JSON``, before any student code exists in
the process.  Each protection is tried on its own and reported, so that a machine that
refuses one (no root, no namespaces) still grades, and the results say what was active:

1. a new network namespace (no network: not even loopback is up);
2. a new mount namespace with an empty tmpfs over every hidden folder (the course root
   with ``source/`` and the kit, the temp folder with other children's files, the
   dataset), the child's own run folder bound back in place;
3. resource limits (CPU time, address space, file size, processes, no core dumps);
4. a fresh unprivileged uid/gid with no supplementary groups, and no new privileges.

This file imports only the standard library.
"""
import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _bytes(text):
    return text.encode() if text is not None else None


def _mount(source, target, fstype, flags, data):
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)),
           f"mount {target}")


def _under(path, folder):
    """Is ``path`` the folder ``folder`` or inside it?"""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def isolate_network(active):
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    active.append("network namespace (no network)")


def hide_folders(hidden, keep, active):
    """Empty tmpfs over each hidden folder; each kept folder under one is bound back in place."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    kept = {path: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in keep
            if any(_under(path, folder) for folder in hidden)}
    done = []
    for folder in hidden:
        if os.path.isdir(folder) and not any(_under(folder, path) for path in keep):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
            done.append(folder)
    for path, fd in kept.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND, None)
        os.close(fd)
    active.append("mount namespace hiding " + ", ".join(done))


def set_limits(limits, active):
    mb = 1024 * 1024
    table = [(resource.RLIMIT_CPU, limits["cpu_seconds"], "CPU {} s"),
             (resource.RLIMIT_AS, limits["memory_mb"] * mb, "memory {} B"),
             (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb, "file size {} B"),
             (resource.RLIMIT_NPROC, limits["max_processes"], "{} processes"),
             (resource.RLIMIT_CORE, 0, "no core dumps")]
    for kind, value, label in table:
        resource.setrlimit(kind, (value, value))
    active.append("resource limits (" + ", ".join(label.format(v) for _, v, label in table) + ")")


def drop_privileges(uid, run_dir, executable, active):
    """A fresh uid, if it can still run Python (its folders must be reachable by others)."""
    folder = os.path.dirname(os.path.realpath(executable))
    while folder != "/":
        if not os.stat(folder).st_mode & 0o001:
            raise OSError(f"{folder} is not reachable by other users, so Python would not start")
        folder = os.path.dirname(folder)
    os.chown(run_dir, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    active.append(f"unprivileged uid {uid}")


def main(config_path):
    with open(config_path) as f:
        config = json.load(f)
    os.unlink(config_path)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    active, failed = [], []
    steps = [(isolate_network, ()), (hide_folders, (config["hidden"], config["keep"])),
             (set_limits, (config["limits"],)), (drop_privileges, (config["uid"], config["run_dir"], sys.executable))]
    for step, args in steps:
        if step.__name__ in config["skip"]:
            continue
        try:
            step(*args, active)
        except (OSError, ValueError) as err:
            failed.append(f"{step.__name__}: {err}")
    os.chdir(config["run_dir"])
    line = json.dumps({"event": "jail", "active": active, "failed": failed}) + "\n"
    os.write(config["status_fd"], line.encode())
    os.execve(sys.executable, [sys.executable, "-I", *config["argv"]], config["env"])


if __name__ == "__main__":
    main(sys.argv[1])
