"""The sandbox holds against a hostile student, whether the grader runs as root or not.

Root is what Docker, CI and Gradescope run as: there the kernel must still be an unprivileged
user with no capabilities, unable to remount the read-only folders or to fork without end. The
fine-grained checks run a probe through ``Sandbox.command``; the rest go through the grader on
the tiny lab of ``tests/tiny_lab.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import site
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tiny_lab import MAX_POINTS, _grader, _points, _solve, _student

from labkit_instructor.batch import grade_class
from labkit_instructor.runner import _dead_kernel
from labkit_instructor.sandbox import PRIVATE_IDS, Sandbox, _python_folders

# Run inside a sandbox: what it is, and what it can do to the folders it was shown read-only.
PROBE = r"""
import ctypes, json, os, resource, subprocess, sys
paths, marker = json.loads(sys.argv[1]), sys.argv[2]
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
found = {name: status[name].strip() for name in ("CapEff", "CapPrm", "NoNewPrivs")}
found.update(uid=os.getuid(), euid=os.geteuid())
found["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)[0]
libc = ctypes.CDLL(None, use_errno=True)
found["paths"] = {}
for path in paths:
    tool = subprocess.run(["mount", "-o", "remount,bind,rw", path], capture_output=True)
    call = libc.mount(None, path.encode(), None, 32 | 4096, None)  # MS_REMOUNT | MS_BIND
    try:
        open(os.path.join(path, marker), "w").close()
        written = "written"
    except OSError as err:
        written = type(err).__name__
    found["paths"][path] = [tool.returncode, call, written]
found["userns"] = subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode
children = []
try:
    while len(children) < 10_000:
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError as err:
    found["fork_error"] = type(err).__name__
found["forked"] = len(children)
for child in children:
    child.kill()
print(json.dumps(found))
"""
PROCESSES = 40  # the fine-grained probe's process limit: a fork loop reaches it at once


def _read_only_binds(command: list[str]) -> list[str]:
    """The destinations of every ``--ro-bind`` of a sandbox command."""
    return [command[i + 2] for i, word in enumerate(command) if word == "--ro-bind"]


def _probe(bwrap: str) -> tuple[dict, list[str], str]:
    """Run :data:`PROBE` in a sandbox: its findings, the paths it tried, the file it tried."""
    marker = f"labkit-sandbox-probe-{uuid.uuid4().hex}.pth"
    with Sandbox(bwrap, processes=PROCESSES) as box:
        paths = _read_only_binds(box.command(["true"]))
        paths += [str(_labkit_folder()), *site.getsitepackages()]
        command = box.command([sys.executable, "-c", PROBE, json.dumps(paths), marker])
        run = subprocess.run(command, env=box.environment(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), paths, marker


def _labkit_folder() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("labkit").origin).parent


def _assert_confined(found: dict, paths: list[str], marker: str) -> None:
    assert found["uid"] != 0 and found["euid"] != 0
    assert found["CapEff"] == found["CapPrm"] == "0000000000000000"
    assert found["NoNewPrivs"] == "1"  # the setuid mount gains nothing
    assert set(found["paths"]) == set(paths) and len(paths) > 5
    for path, (tool, call, written) in found["paths"].items():
        assert tool != 0 and call == -1, f"{path} was remounted writable"
        assert written != "written", f"{path} took a file"
        assert not (Path(path) / marker).exists(), f"{path} took a file"
    assert found["nproc"] == PROCESSES
    assert found["fork_error"] == "BlockingIOError" and found["forked"] < PROCESSES


# --- The grader's user, root (CI) or not ---


def test_the_kernel_is_unprivileged_and_cannot_remount_or_fork_without_end(sandbox):
    found, paths, marker = _probe(sandbox)
    _assert_confined(found, paths, marker)
    assert str(_labkit_folder()) in paths and any("site-packages" in p for p in paths)
    if os.geteuid() == 0:
        assert any(found["uid"] in ids for ids in PRIVATE_IDS)


def test_each_sandbox_of_a_root_grader_has_a_user_of_its_own(sandbox):
    if os.geteuid() != 0:
        pytest.skip("as another user the kernel is nobody in a user namespace of its own")
    users = set()
    for _ in range(5):
        with Sandbox(sandbox) as box:
            users.add(box.user)
            assert box.workdir.stat().st_uid == box.user == box.socket_dir.stat().st_uid
    assert len(users) == 5 and all(any(user in ids for ids in PRIVATE_IDS) for user in users)


# A grader that is not root: this interpreter's folders shown to other users, the rest as is.
AS_NOBODY = r"""
import json, sys
from labkit_instructor.sandbox import check_sandbox
sys.path.insert(0, sys.argv[1])
import test_sandbox
found, paths, marker = test_sandbox._probe(check_sandbox())
test_sandbox._assert_confined(found, paths, marker)
print(json.dumps(found))
"""


def _open_to_others() -> list[str]:
    """bwrap options (run as root) that show this Python to uid 65534 where a 0700 folder
    (``/root``) hides it: an empty folder there, with the Python's folders bound back in it."""
    closed = set()
    for folder in _python_folders():
        for parent in reversed(folder.parents):
            if parent != Path("/") and not parent.stat().st_mode & stat.S_IXOTH:
                closed.add(parent)
                break
    options = []
    for top in sorted(closed):
        options += ["--perms", "0755", "--tmpfs", str(top)]
        for folder in (f for f in _python_folders() if f.is_relative_to(top)):
            above = [p for p in reversed(folder.parents) if p.is_relative_to(top) and p != top]
            for parent in above:
                options += ["--perms", "0755", "--dir", str(parent)]
            options += ["--ro-bind", str(folder), str(folder)]
    return options


def test_a_grader_that_is_not_root_gets_the_same_confinement(sandbox):
    here = str(Path(__file__).resolve().parent)
    command = [sys.executable, "-c", AS_NOBODY, here]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is missing: cannot become an unprivileged user")
        drop = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        view = [sandbox, "--dev-bind", "/", "/", *_open_to_others(), "--"]
        command = [*view, *drop, "--inh-caps=-all", *command]
    run = subprocess.run(command, capture_output=True, text=True, cwd="/")
    if "user namespace" in run.stderr.lower() and "SandboxUnavailable" in run.stderr:
        pytest.skip(f"unprivileged user namespaces are off here: {run.stderr.splitlines()[-1]}")
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.splitlines()[-1])
    assert found["uid"] == 65534  # nobody, in the sandbox's own user namespace
    assert found["userns"] != 0  # --disable-userns: no namespace of its own inside


# --- Through the grader, on the tiny lab ---

GUARDED = """import os, subprocess, sys
    status = open('/proc/self/status').read()
    assert os.getuid() != 0 and 'CapEff:\\t0000000000000000' in status, 'privileged'
    folder = {folder!r}
    mount = subprocess.run(['mount', '-o', 'remount,bind,rw', folder], capture_output=True)
    assert mount.returncode != 0, 'remounted'
    for target in [folder, *{site_packages!r}]:
        try:
            open(os.path.join(target, {marker!r}), 'w').close()
        except OSError:
            continue
        raise AssertionError('wrote into ' + target)
    return 2 * x"""


def test_a_student_cell_cannot_remount_or_drop_a_pth_file(tiny_lab, sandbox):
    marker = f"labkit-evil-{uuid.uuid4().hex}.pth"
    targets = [str(_labkit_folder()), *site.getsitepackages()]
    body = GUARDED.format(folder=targets[0], site_packages=targets[1:], marker=marker)
    path = _student(tiny_lab, "rooter", lambda nb: _solve(nb, body))
    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(path)
    # Every guard in the cell held: it ran to its end (its subprocess is noted as tampering).
    assert _points(report)["ran"] == 1 and report.execution_note is None, report.feedback()
    assert not any((Path(target) / marker).exists() for target in targets)


def test_a_fork_loop_stops_at_the_process_limit_and_the_batch_goes_on(tiny_lab, sandbox):
    loop = "import subprocess\n    while True: subprocess.Popen(['sleep', '60'])"
    bomber = _student(tiny_lab, "a_bomber", lambda nb: _solve(nb, loop))
    solved = _student(tiny_lab, "b_solved", _solve)
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    reports = grade_class(grader, [bomber, solved], jobs=2, stream=io.StringIO())
    assert "BlockingIOError" in reports[0].feedback()
    assert reports[0].execution_note is None  # the kernel lived on, to the last cell
    assert _points(reports[0])["setup"] == 1 and _points(reports[0])["exercise_double"] == 0
    assert reports[1].points == MAX_POINTS  # graded beside it: its processes count apart


def test_a_kernel_that_exits_is_reported_by_its_exit_code(tiny_lab, sandbox):
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    exits = _student(tiny_lab, "exiter", lambda nb: _solve(nb, "import os; os._exit(3)"))
    note = grader.grade(exits).execution_note or ""
    assert re.search(r"the kernel exited with code 3 in cell \d+ \(os\._exit", note), note
    assert "out of memory" not in note
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    killed = _student(tiny_lab, "killed", lambda nb: _solve(nb, kill))
    note = grader.grade(killed).execution_note or ""
    assert re.search(r"the kernel was killed by SIGKILL in cell \d+", note), note


def test_dead_kernels_are_named_by_their_exit_status():
    assert _dead_kernel(5, 3).startswith("the kernel exited with code 3 in cell 5 (os._exit")
    assert _dead_kernel(5, 0).startswith("the kernel exited with code 0 in cell 5 (exit()")
    sandboxed, direct = _dead_kernel(2, 128 + 9), _dead_kernel(2, -9)
    assert sandboxed == direct == "the kernel was killed by SIGKILL in cell 2 (out of memory?)"
    assert _dead_kernel(4, 134).startswith("the kernel was killed by SIGABRT in cell 4")
    assert _dead_kernel(4, 128 + 15) == "the kernel was killed by SIGTERM in cell 4"
    assert _dead_kernel(1, None) == "the kernel died in cell 1 (out of memory?)"
