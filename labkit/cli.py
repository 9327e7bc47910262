"""The ``labkit`` command: ``labkit check`` and ``labkit run``.

``labkit run`` is the kit's main job (the README's first quick-start command).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from labkit.config import DATA_DIR_ENV, LabSettings, load_settings


def _print_table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def check_environment(settings: LabSettings) -> None:
    """Print versions, devices and settings, then load and verify MNIST.

    Raises:
        MnistDataError: MNIST is missing or damaged (the message says how to fix it).
    """
    from labkit.backend import runtime_summary
    from labkit.data import load_mnist

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
    check_environment(settings)
    print("No notebooks to execute yet: the environment and the data are ready.")
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
    commands.add_parser(
        "run", help="check the environment, then execute every notebook in order"
    ).set_defaults(handler=_command_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labkit`` command; returns the exit status."""
    from labkit.data import MnistDataError

    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments)
    except (MnistDataError, ValueError) as err:
        print(f"labkit {arguments.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
