"""The sandbox that ``labkit grade --execute`` runs each student's notebook in.

A student's notebook is untrusted code. On Linux its kernel runs under bubblewrap (``bwrap``,
the sandbox of Flatpak), in namespaces of its own. What holds:

* it runs as an unprivileged user with no capabilities and ``no_new_privs`` (a setuid program
  such as ``mount`` gains nothing). A grader that is not root maps its own uid to ``nobody`` in
  a user namespace (``--unshare-user --uid 65534 --cap-drop ALL``), in which no further user
  namespace can be made. As root (Docker, CI, Gradescope) no user namespace is made: there root
  would keep its capabilities and escape the process limit; bubblewrap keeps only
  ``CAP_SETUID``/``CAP_SETGID`` and a few lines of the grader's Python, run first inside, switch
  to a user id of this sandbox alone (random, above 2,000,000), which drops those too;
* the file system is a read-only view of the system (``/usr``, ``/etc``, ...), of the Python
  environment the kit is installed in, of the ``labkit`` package and of the MNIST folder, which
  it cannot remount writable; the working directory and ``HOME`` are a fresh, empty, writable
  folder of its own (deleted afterwards), ``/tmp`` and ``/dev/shm`` are empty. Other
  submissions, the instructor's notebooks, the rubrics, the ``labkit_instructor`` package and
  the grader's home directory are not there at all;
* there is no network: its own network namespace has only a loopback device. The kernel talks to
  the grader through Unix sockets in a folder of its own (ZeroMQ's ``ipc`` transport);
* its processes live in their own PID namespace: when the kernel ends or is killed, every process
  it started (a ``subprocess.Popen`` left running, a daemon) is killed with it;
* its memory is capped (``RLIMIT_DATA``: an allocation beyond the cap raises ``MemoryError`` in
  the student's cell), so are its processes and threads (``RLIMIT_NPROC``, counted per sandbox:
  a fork loop gets ``BlockingIOError``), and the runner's time limits stop it.

What does not hold: the kernel shares the grader's Linux kernel (a kernel exploit escapes any
namespace), and as root it may still make user namespaces of its own, as any user may; CPU
time, disk space in its folder and the memory of ``/tmp`` are bounded only by the time limits.
As root, the Python environment and the MNIST folder must be readable by other users.

Where bubblewrap is missing or cannot create namespaces (macOS, Windows, some containers),
:func:`check_sandbox` raises :class:`SandboxUnavailable`, whose message says how to get one; the
docs/instructors.md shows how to grade inside a Docker or Podman container instead.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from labkit_instructor.limits import DEFAULT_MEMORY_MEGABYTES, MAX_PROCESSES, PROCESSES_PER_CPU
from labkit_instructor.runner import CurrentPythonKernelManager

__all__ = [
    "Sandbox",
    "SandboxUnavailable",
    "check_sandbox",
    "process_limit",
]

SYSTEM_FOLDERS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What the kernel's environment keeps from the grader's: nothing secret, only what the notebooks
# read. Everything else (tokens, SSH agents, the grader's paths) stays outside.
KEPT_VARIABLES = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "LABKIT_QUICK",
    "TF_CPP_MIN_LOG_LEVEL",
)
NOBODY = 65534  # the kernel's user inside the user namespace of a grader that is not root
# As root, each sandbox's own user and group: random in a range no real account uses, else (a
# container that maps only 65,536 ids) in one high in those.
PRIVATE_IDS = (range(2_000_000, 3_000_000), range(40_000, 60_000))
# Runs first inside the sandbox, on the grader's Python (-I -S: no site, no .pth file): as root,
# becomes the sandbox's user, which clears every capability; then the limits, then the kernel.
_BECOME_THEN_EXEC = """
import os, resource, sys
data, processes, user = map(int, sys.argv[1:4])
if user:
    os.setgroups([])
    os.setresgid(user, user, user)
    os.setresuid(user, user, user)
status = open("/proc/self/status").read()
if os.geteuid() == 0 or "CapEff:\\t0000000000000000" not in status:
    sys.exit("labkit sandbox: the kernel would keep root or capabilities; not starting it")
resource.setrlimit(resource.RLIMIT_DATA, (data, data))
resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
os.execvp(sys.argv[4], sys.argv[4:])
"""
# Root inside bubblewrap's own user namespace escapes RLIMIT_NPROC; as root, none is made.
_AS_ROOT = [
    *("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"),
    *("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"),
]
_AS_USER = [
    *("--unshare-all", "--unshare-user", "--disable-userns"),
    *("--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"),
]


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says how to get one."""


def _how_to_get_one(reason: str) -> str:
    return (
        f"labkit grade --execute runs students' code in a sandbox, and {reason} "
        "On Debian or Ubuntu: sudo apt-get install bubblewrap (Fedora: sudo dnf install "
        "bubblewrap; `make test` installs it too). On macOS or Windows, grade inside a Docker or "
        "Podman container (docs/instructors.md: 'Grading on macOS or Windows'). To run students' "
        "code with your own rights anyway, pass --no-sandbox."
    )


def process_limit() -> int:
    """The default cap on a sandbox's processes and threads, from the number of cores."""
    return MAX_PROCESSES + PROCESSES_PER_CPU * (os.cpu_count() or 1)


def check_sandbox() -> str:
    """The path of a working ``bwrap``; raises :class:`SandboxUnavailable` if there is none.

    It starts a Python in one sandbox, made as a notebook's is, to prove that this machine
    allows what it needs (namespaces, the switch to the sandbox's user, a readable Python).
    """
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(
            _how_to_get_one(
                f"bubblewrap, its sandbox, exists only on Linux (this is {sys.platform})."
            )
        )
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(_how_to_get_one("bubblewrap (bwrap) is not on the PATH."))
    failure = _probe(bwrap)
    if failure is not None:
        raise SandboxUnavailable(_how_to_get_one(failure))
    return bwrap


def _probe(bwrap: str) -> str | None:
    """Why a kernel cannot start in a sandbox here, or None when one can."""
    try:
        with Sandbox(bwrap) as box:
            probe = subprocess.run(
                box.command([sys.executable, "-c", "import ipykernel"]),
                env=box.environment(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable) as err:
        return f"its sandbox could not start ({err})."
    if probe.returncode == 0:
        return None
    why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
    if os.geteuid() == 0:
        return (
            f"bubblewrap cannot start a Python in it here ({why}); as root it needs "
            "CAP_SYS_ADMIN (a container: --privileged) and a Python environment that other "
            "users can read."
        )
    return (
        f"bubblewrap cannot create its namespaces here ({why}); unprivileged user namespaces "
        "may be turned off (sysctl kernel.unprivileged_userns_clone=1)."
    )


def _system_binds() -> list[str]:
    binds = []
    for folder in SYSTEM_FOLDERS:
        path = Path(folder)
        if path.is_symlink():  # /bin -> usr/bin on merged-/usr systems
            binds += ["--symlink", os.readlink(path), folder]
        elif path.is_dir():
            binds += ["--ro-bind", folder, folder]
    return binds


def _package_folder(name: str) -> Path | None:
    # Found without importing it: importing labkit would start TensorFlow in the grader.
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]).resolve() if locations else None


def _python_folders() -> list[Path]:
    """Where this Python and its packages live: the environment, not the folders around it."""
    folders = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.is_dir() and path.name in ("site-packages", "dist-packages"):
            folders.add(path)
        elif path.is_dir() and path.name.startswith("python3") and path.parent.name == "lib":
            folders.add(path)  # the standard library of a Python outside /usr
    labkit_folder = _package_folder("labkit")
    if labkit_folder is not None:
        folders.add(labkit_folder)  # an editable install: the package, not its checkout
    # A folder inside another one is shown with it.
    return sorted(f for f in folders if not any(f != o and f.is_relative_to(o) for o in folders))


def _parents(paths: list[Path]) -> list[str]:
    """``--dir`` each folder above ``paths``, open to all: bubblewrap makes them 0700 otherwise."""
    above = sorted({str(parent) for path in paths for parent in path.parents} - {"/"})
    return [argument for folder in above for argument in ("--perms", "0755", "--dir", folder)]


def _mapped(ids: range, kind: str) -> bool:
    """Whether every id of ``ids`` exists in this process's user namespace (``kind``: uid_map)."""
    for line in Path("/proc/self", kind).read_text(encoding="ascii").splitlines():
        inside, _, count = map(int, line.split())
        if inside <= ids.start and ids.stop <= inside + count:
            return True
    return False


def _private_id() -> int:
    """A user and group id for one sandbox of a root grader: its processes are counted apart."""
    for ids in PRIVATE_IDS:
        if _mapped(ids, "uid_map") and _mapped(ids, "gid_map"):
            return random.SystemRandom().choice(ids)
    raise SandboxUnavailable("no unprivileged user id is free for the sandbox's kernel.")


@dataclass
class Sandbox:
    """One notebook's sandbox: a working folder and the command that starts its kernel.

    Use it as a context manager; it makes the folders on entry and deletes them on exit.

    Args:
        bwrap: The ``bwrap`` program (from :func:`check_sandbox`).
        memory_megabytes: The cap on the kernel's memory (its data segment), in MiB.
        readable: Further folders or files to show read-only (the MNIST folder).
        processes: The cap on its processes and threads, all together.
    """

    bwrap: str
    memory_megabytes: int = DEFAULT_MEMORY_MEGABYTES
    readable: tuple[Path, ...] = ()
    processes: int = field(default_factory=process_limit)

    def __enter__(self) -> Sandbox:
        # As root, the kernel runs as a user of its own (0: the grader is not root).
        self.user = _private_id() if os.geteuid() == 0 else 0
        self._folder = tempfile.TemporaryDirectory(prefix="labkit-sandbox-")
        root = Path(self._folder.name).resolve()
        self.workdir, self.socket_dir = root / "home", root / "sockets"
        for folder in (self.workdir, self.socket_dir):
            folder.mkdir()
            self.hand_over(folder)
        return self

    def __exit__(self, *exc_info) -> None:
        self._folder.cleanup()

    def hand_over(self, path: Path) -> None:
        """Make ``path`` the kernel's own (as root; otherwise it is already the grader's)."""
        if self.user:
            os.chown(path, self.user, self.user)

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The kernel's environment: a few of the grader's variables, its own HOME and caches."""
        env = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
        env.update(
            HOME=str(self.workdir),
            TMPDIR="/tmp",
            MPLCONFIGDIR=str(self.workdir / ".matplotlib"),
            LABKIT_CACHE_DIR=str(self.workdir / ".labkit_cache"),
            PYTHONNOUSERSITE="1",
        )
        env.update(extra or {})
        return env

    def command(self, kernel_command: list[str]) -> list[str]:
        """``kernel_command`` wrapped: bubblewrap, then the switch of user and the limits."""
        limits = [str(self.memory_megabytes * 2**20), str(self.processes), str(self.user)]
        return [
            self.bwrap,
            "--die-with-parent",
            "--new-session",
            *(_AS_ROOT if self.user else _AS_USER),
            "--hostname",
            "sandbox",
            *self._mounts(),
            "--chdir",
            str(self.workdir),
            # ipykernel exits when its parent's PID changes; inside the PID namespace it never
            # sees the grader's, and --die-with-parent ties it to the grader instead.
            "--setenv",
            "JPY_PARENT_PID",
            "1",
            "--",
            *(sys.executable, "-I", "-S", "-c", _BECOME_THEN_EXEC, *limits),
            *kernel_command,
        ]

    def _mounts(self) -> list[str]:
        """What the sandbox sees, in bubblewrap's order: the empty ``/tmp`` comes first and the
        folders shown inside it (a virtual environment or a checkout under ``/tmp``) after it.
        """
        hidden = _package_folder("labkit_instructor")
        python = _python_folders()
        shown = [path for path in [*python, *map(Path, self.readable)] if path.exists()]
        writable = [self.workdir, self.socket_dir]
        mounts = [*_system_binds(), "--proc", "/proc", "--dev", "/dev"]
        mounts += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
        mounts += _parents([*shown, *writable])
        for path in shown:
            mounts += ["--ro-bind", str(path), str(path)]
        if hidden is not None and any(hidden.is_relative_to(folder) for folder in python):
            mounts += ["--tmpfs", str(hidden)]  # the rubrics and the grader's code
        for folder in writable:
            mounts += ["--bind", str(folder), str(folder)]
        return mounts

    def kernel_manager_class(self) -> type[CurrentPythonKernelManager]:
        """A kernel manager that starts the kernel in this sandbox, talking over Unix sockets."""
        sandbox = self

        class SandboxedKernelManager(CurrentPythonKernelManager):
            def __init__(self, **kwargs) -> None:
                super().__init__(
                    transport="ipc",
                    ip=str(sandbox.socket_dir / "kernel"),
                    connection_file=str(sandbox.socket_dir / "kernel.json"),
                    **kwargs,
                )

            def write_connection_file(self, **kwargs) -> None:
                super().write_connection_file(**kwargs)
                sandbox.hand_over(Path(self.connection_file))  # written 0600 by the grader

            def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
                return sandbox.command(super().format_kernel_cmd(extra_arguments))

        return SandboxedKernelManager
