"""The sandbox that ``labkit grade --execute`` runs each student's notebook in.

A student's notebook is untrusted code. On Linux its kernel runs under bubblewrap (``bwrap``,
the sandbox of Flatpak), in namespaces of its own:

* the file system is a read-only view of the system (``/usr``, ``/etc``, ...), of the Python
  environment the kit is installed in, of the ``labkit`` package and of the MNIST folder; the
  working directory and ``HOME`` are a fresh, empty, writable folder of its own (deleted
  afterwards) and ``/tmp`` is empty. Other submissions, the instructor's
  notebooks, the rubrics, the ``labkit_instructor`` package and the grader's home directory are
  not there at all;
* there is no network: its own network namespace has only a loopback device. The kernel talks to
  the grader through Unix sockets in a folder of its own (ZeroMQ's ``ipc`` transport);
* its processes live in their own PID namespace: when the kernel ends or is killed, every process
  it started (a ``subprocess.Popen`` left running, a daemon) is killed with it;
* its memory is capped (``RLIMIT_DATA``: an allocation beyond the cap raises ``MemoryError`` in
  the student's cell) and the runner's time limits stop it.

Where bubblewrap is missing or cannot create namespaces (macOS, Windows, some containers),
:func:`check_sandbox` raises :class:`SandboxUnavailable`, whose message says how to get one; the
README shows how to grade inside a Docker or Podman container instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labkit_instructor.limits import DEFAULT_MEMORY_MEGABYTES
from labkit_instructor.runner import CurrentPythonKernelManager

__all__ = [
    "Sandbox",
    "SandboxUnavailable",
    "check_sandbox",
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
# Sets the memory limit, then becomes bubblewrap: limits are inherited by everything inside.
_LIMIT_THEN_EXEC = (
    "import os, resource, sys; limit = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_DATA, (limit, limit)); os.execvp(sys.argv[2], sys.argv[2:])"
)


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says how to get one."""


def _how_to_get_one(reason: str) -> str:
    return (
        f"labkit grade --execute runs students' code in a sandbox, and {reason} "
        "On Debian or Ubuntu: sudo apt-get install bubblewrap (Fedora: sudo dnf install "
        "bubblewrap; `make test` installs it too). On macOS or Windows, grade inside a Docker or "
        "Podman container (README: 'Grading on macOS or Windows'). To run students' code with "
        "your own rights anyway, pass --no-sandbox."
    )


def check_sandbox() -> str:
    """The path of a working ``bwrap``; raises :class:`SandboxUnavailable` if there is none.

    It starts one empty sandbox to prove that this machine allows the namespaces it needs
    (some containers and hardened kernels do not).
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
    probe = subprocess.run(
        [bwrap, *_system_binds(), "--unshare-all", "--die-with-parent", "--proc", "/proc", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            _how_to_get_one(
                f"bubblewrap cannot create its namespaces here ({probe.stderr.strip()}); "
                "unprivileged user namespaces may be turned off "
                "(sysctl kernel.unprivileged_userns_clone=1)."
            )
        )
    return bwrap


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


@dataclass
class Sandbox:
    """One notebook's sandbox: a working folder and the command that starts its kernel.

    Use it as a context manager; it makes the folders on entry and deletes them on exit.

    Args:
        bwrap: The ``bwrap`` program (from :func:`check_sandbox`).
        memory_megabytes: The cap on the kernel's memory (its data segment), in MiB.
        readable: Further folders or files to show read-only (the MNIST folder).
    """

    bwrap: str
    memory_megabytes: int = DEFAULT_MEMORY_MEGABYTES
    readable: tuple[Path, ...] = ()

    def __enter__(self) -> Sandbox:
        self._folder = tempfile.TemporaryDirectory(prefix="labkit-sandbox-")
        root = Path(self._folder.name).resolve()
        self.workdir, self.socket_dir = root / "home", root / "sockets"
        self.workdir.mkdir()
        self.socket_dir.mkdir()
        return self

    def __exit__(self, *exc_info) -> None:
        self._folder.cleanup()

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
        """``kernel_command`` wrapped: memory limit, then bubblewrap, then the kernel.

        bubblewrap mounts in the order given, so the empty ``/tmp`` comes first and the folders
        shown inside it (a virtual environment or a checkout under ``/tmp``) after it.
        """
        hidden = _package_folder("labkit_instructor")
        python = _python_folders()
        mounts = [*_system_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in [*python, *map(Path, self.readable)]:
            if path.exists():
                mounts += ["--ro-bind", str(path), str(path)]
        if hidden is not None and any(hidden.is_relative_to(folder) for folder in python):
            mounts += ["--tmpfs", str(hidden)]  # the rubrics and the grader's code
        for folder in (self.workdir, self.socket_dir):
            mounts += ["--bind", str(folder), str(folder)]
        return [
            sys.executable,
            "-c",
            _LIMIT_THEN_EXEC,
            str(self.memory_megabytes * 2**20),
            self.bwrap,
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            "--hostname",
            "sandbox",
            *mounts,
            "--chdir",
            str(self.workdir),
            # ipykernel exits when its parent's PID changes; inside the PID namespace it never
            # sees the grader's, and --die-with-parent ties it to the grader instead.
            "--setenv",
            "JPY_PARENT_PID",
            "1",
            "--",
            *kernel_command,
        ]

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

            def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
                return sandbox.command(super().format_kernel_cmd(extra_arguments))

        return SandboxedKernelManager
