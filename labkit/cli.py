"""The ``labkit`` command: ``labkit check`` and ``labkit run``.

``labkit run`` is the kit's main job (the README's first quick-start command).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labkit.backend import runtime_summary
from labkit.config import DATA_DIR_ENV, LabSettings, load_settings
from labkit.data import MnistDataError, load_mnist
from labkit.runner import find_notebooks, run_notebook, summary_table


def _print_table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def check_environment(settings: LabSettings) -> None:
    """Print versions, devices and settings, then load and verify MNIST.

    Raises:
        MnistDataError: MNIST is missing or damaged (the message says how to fix it).
    """
    print("Environment")
    _print_table(list(runtime_summary().items()))
    print("Settings")
    source = str(settings.data_dir) if settings.data_dir else "keras.datasets.mnist"
    _print_table(
        [
            ("mode", settings.mode),
            ("epochs", str(settings.num_epochs)),
            ("images per split", str(settings.limit or "all")),
            ("MNIST source", source),
        ]
    )
    started = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = load_mnist(settings.data_dir, limit=settings.limit)
    seconds = time.perf_counter() - started
    print("MNIST (checksums verified)" if settings.data_dir else "MNIST")
    _print_table(
        [
            (
                "train",
                f"{x_train.shape} {x_train.dtype}, pixels {x_train.min():g}..{x_train.max():g}",
            ),
            ("test", f"{x_test.shape} {x_test.dtype}"),
            ("train labels", " ".join(str(count) for count in np.bincount(y_train, minlength=10))),
            ("test labels", " ".join(str(count) for count in np.bincount(y_test, minlength=10))),
            ("load time", f"{seconds:.1f} s"),
        ]
    )


def _command_check(arguments: argparse.Namespace) -> int:
    check_environment(load_settings())
    return 0


def _command_run(arguments: argparse.Namespace) -> int:
    settings = load_settings()
    if arguments.update_notebooks and settings.quick:
        raise ValueError(
            "--update-notebooks stores outputs that students read, so it needs a full run. "
            "Unset LABKIT_QUICK and run again."
        )
    notebooks = find_notebooks(arguments.notebooks)
    check_environment(settings)
    print(f"Executing {len(notebooks)} notebooks in {settings.mode} mode into {arguments.output}/")
    runs = []
    for path in notebooks:
        print(f"  {path.name} ...", end="", flush=True)
        run = run_notebook(path, arguments.output / path.name)
        print(f" {'ok' if run.ok else 'FAILED'} in {run.seconds:.0f} s", flush=True)
        runs.append(run)
    print(summary_table(runs))
    failed = [run for run in runs if not run.ok]
    if failed:
        print(
            f"{len(failed)} notebook(s) failed; read the executed copies in {arguments.output}/",
            file=sys.stderr,
        )
        return 1
    if arguments.update_notebooks:
        for path in notebooks:
            shutil.copyfile(arguments.output / path.name, path)
        print(f"Copied the executed notebooks back into {arguments.notebooks}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit",
        description="VAE Lab Kit: run the lab notebooks and check the environment.",
        epilog=(
            f"Environment: LABKIT_QUICK=1 for quick mode; {DATA_DIR_ENV}=FOLDER to read the MNIST "
            "IDX files from FOLDER instead of keras.datasets.mnist."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "check", help="print versions and settings, and load and verify MNIST"
    ).set_defaults(handler=_command_check)
    run = commands.add_parser(
        "run", help="check the environment, then execute every notebook in order"
    )
    run.add_argument(
        "--notebooks",
        type=Path,
        default=Path("notebooks"),
        help="folder of the lab notebooks (default: notebooks)",
    )
    run.add_argument(
        "--output",
        type=Path,
        default=Path("executed"),
        help="folder for the executed copies (default: executed, ignored by git)",
    )
    run.add_argument(
        "--update-notebooks",
        action="store_true",
        help="for maintainers: after a run without errors, copy the executed "
        "notebooks over the originals (do this in full mode only)",
    )
    run.set_defaults(handler=_command_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labkit`` command; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments)
    except (MnistDataError, ValueError, FileNotFoundError) as err:
        print(f"labkit {arguments.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
