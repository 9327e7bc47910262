"""The ``labkit`` command: ``check``, ``run``, and for instructors ``grade`` and ``release``.

``labkit run`` is the kit's main job (the README's first quick-start command).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labkit.backend import runtime_summary
from labkit.config import DATA_DIR_ENV, LabSettings, load_settings
from labkit.data import MnistDataError, keras_cache_file, load_mnist
from labkit.grading import (
    CELL_TIMEOUT_SECONDS,
    MAX_NOTEBOOK_MEGABYTES,
    TOTAL_TIMEOUT_SECONDS,
    GradeReport,
    find_submissions,
    grade_notebook,
    load_rubrics,
)
from labkit.release import release_notebooks
from labkit.reporting import format_table
from labkit.runner import (
    RunProgress,
    expected_seconds,
    find_notebooks,
    run_notebook,
    summary_table,
)


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
    cache_file = keras_cache_file()
    if settings.data_dir:
        source, verified = str(settings.data_dir), True
    elif cache_file.is_file():
        source, verified = f"{cache_file} (Keras's cache)", True
    else:
        source, verified = "keras.datasets.mnist (download)", False
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
    print("MNIST (checksums verified)" if verified else "MNIST")
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
    progress = RunProgress({path.name: expected_seconds(path, settings.mode) for path in notebooks})
    left = progress.seconds_left()
    if left is not None:
        print(f"  about {left:.0f} s in all, from the last recorded run of each notebook")
    runs = []
    for path in notebooks:
        progress.start_notebook(path.name)
        run = run_notebook(
            path, arguments.output / path.name, mode=settings.mode, on_cell=progress.cell
        )
        progress.finish_notebook(path.name, run.seconds)
        print(f"  {path.name} {'ok' if run.ok else 'FAILED'} in {run.seconds:.0f} s", flush=True)
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


def _grades_table(reports: Sequence[GradeReport]) -> str:
    rows = [
        [
            str(report.path),
            report.lab or "?",
            f"{report.points:g}/{report.max_points:g}" if not report.error else "-",
            report.status if len(report.status) <= 60 else report.status[:57] + "...",
        ]
        for report in reports
    ]
    return format_table(["notebook", "lab", "points", "status"], rows)


def write_grades_csv(reports: Sequence[GradeReport], path: Path) -> None:
    """One row per notebook, one column per rubric item (empty where it does not apply)."""
    item_ids = list(dict.fromkeys(item.id for report in reports for item in report.items))
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["notebook", "lab", "status", *item_ids, "points", "max_points"])
        for report in reports:
            earned = {item.id: f"{item.points:g}" for item in report.items}
            writer.writerow(
                [
                    str(report.path),
                    report.lab or "",
                    report.status,
                    *(earned.get(item_id, "") for item_id in item_ids),
                    "" if report.error else f"{report.points:g}",
                    f"{report.max_points:g}" if report.max_points else "",
                ]
            )


def _feedback_names(paths: Sequence[Path]) -> list[str]:
    # Relative to the folder the notebooks share: alice/03_vae.ipynb -> alice__03_vae.txt, so
    # that students' same-named files stay apart.
    resolved = [path.resolve() for path in paths]
    common = Path(os.path.commonpath([path.parent for path in resolved]))
    return [
        re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(path.relative_to(common).with_suffix("").parts))
        + ".txt"
        for path in resolved
    ]


def _command_grade(arguments: argparse.Namespace) -> int:
    rubrics = load_rubrics(arguments.rubric)
    if arguments.lab is not None and arguments.lab not in rubrics:
        raise ValueError(f"--lab {arguments.lab}: no such rubric; use one of {', '.join(rubrics)}.")
    notebooks = find_submissions(arguments.paths)
    verb = "Executing and grading" if arguments.execute else "Grading"
    print(f"{verb} {len(notebooks)} notebook(s)", flush=True)
    reports = []
    for path in notebooks:
        reports.append(
            grade_notebook(
                path,
                rubrics,
                lab=arguments.lab,
                execute=arguments.execute,
                cell_timeout=arguments.cell_timeout,
                total_timeout=arguments.timeout,
                max_megabytes=arguments.max_megabytes,
            )
        )
    print(_grades_table(reports))
    for report in reports:
        print("\n" + report.feedback())
    if arguments.csv:
        write_grades_csv(reports, arguments.csv)
        print(f"\nWrote {arguments.csv}")
    if arguments.feedback:
        arguments.feedback.mkdir(parents=True, exist_ok=True)
        names = _feedback_names([report.path for report in reports])
        for report, name in zip(reports, names, strict=True):
            (arguments.feedback / name).write_text(report.feedback() + "\n", encoding="utf-8")
        print(f"Wrote {len(reports)} feedback file(s) into {arguments.feedback}/")
    return 0


def _command_release(arguments: argparse.Namespace) -> int:
    released = release_notebooks(arguments.source, arguments.out)
    rows = [[item.released, item.solutions_replaced] for item in released]
    print(format_table(["student notebook", "solutions replaced"], rows))
    return 0


def _add_instructor_commands(commands) -> None:
    grade = commands.add_parser(
        "grade",
        parents=[_data_dir_option()],
        help="grade students' notebooks from their outputs (a table, CSV and feedback)",
        description="Grade students' lab notebooks against the kit's rubrics. The exit status "
        "is 0 whatever the grades; 2 means the command itself was used wrongly.",
    )
    grade.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a student's notebook, or a folder of them (searched recursively)",
    )
    grade.add_argument(
        "--execute",
        action="store_true",
        help="first run each notebook in a fresh kernel, in a temporary copy",
    )
    grade.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="write one row per notebook, one column per rubric item",
    )
    grade.add_argument(
        "--feedback",
        type=Path,
        metavar="DIR",
        help="write one feedback text file per notebook into DIR",
    )
    grade.add_argument(
        "--lab",
        metavar="NAME",
        help="grade every notebook as this lab (e.g. 03_vae) instead of the lab "
        "each notebook names",
    )
    grade.add_argument(
        "--rubric",
        type=Path,
        metavar="FILE",
        help="a rubric file of your own (default: the kit's labkit/rubrics.json)",
    )
    grade.add_argument(
        "--cell-timeout",
        type=float,
        default=CELL_TIMEOUT_SECONDS,
        metavar="S",
        help=f"with --execute: seconds per cell (default {CELL_TIMEOUT_SECONDS})",
    )
    grade.add_argument(
        "--timeout",
        type=float,
        default=TOTAL_TIMEOUT_SECONDS,
        metavar="S",
        help=f"with --execute: seconds per notebook (default {TOTAL_TIMEOUT_SECONDS})",
    )
    grade.add_argument(
        "--max-megabytes",
        type=float,
        default=MAX_NOTEBOOK_MEGABYTES,
        metavar="MB",
        help=f"larger files are reported, not read (default {MAX_NOTEBOOK_MEGABYTES:g})",
    )
    grade.set_defaults(handler=_command_grade)
    release = commands.add_parser(
        "release",
        help="write student versions of the instructor notebooks (solutions stubbed)",
        description="Copy every notebook of SOURCE_DIR into --out DIR with the code between "
        "'### BEGIN SOLUTION' and '### END SOLUTION' replaced by a NotImplementedError stub, "
        "Markdown answers replaced by a placeholder, and outputs cleared.",
    )
    release.add_argument(
        "source",
        type=Path,
        metavar="SOURCE_DIR",
        help="folder of instructor notebooks (e.g. notebooks)",
    )
    release.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the student versions (not SOURCE_DIR)",
    )
    release.set_defaults(handler=_command_release)


def _data_dir_option() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--data-dir",
        type=Path,
        metavar="PATH",
        help=f"read MNIST from PATH (a folder of the IDX files, or mnist.npz); the same as "
        f"setting {DATA_DIR_ENV}, which the notebooks' kernels inherit",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit",
        description="VAE Lab Kit: run the lab notebooks, check the environment, and for "
        "instructors grade students' notebooks and release student versions.",
        epilog=(
            f"Environment: LABKIT_QUICK=1 for quick mode; {DATA_DIR_ENV}=PATH (or --data-dir "
            "PATH) to read MNIST from a folder of IDX files or an mnist.npz instead of Keras's "
            "cache and download."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "check",
        parents=[_data_dir_option()],
        help="print versions and settings, and load and verify MNIST",
    ).set_defaults(handler=_command_check)
    run = commands.add_parser(
        "run",
        parents=[_data_dir_option()],
        help="check the environment, then execute every notebook in order",
    )
    run.add_argument(
        "notebooks",
        nargs="?",
        type=Path,
        default=Path("notebooks"),
        metavar="FOLDER",
        help="folder of the lab notebooks, anywhere (default: notebooks, in the current folder)",
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
    _add_instructor_commands(commands)
    return parser


def _tolerate_narrow_consoles() -> None:
    # Windows writes a redirected stdout in the ANSI code page (cp1252 and the like), which
    # cannot encode every character of a path, a student's text or a check's name. Print those
    # as escapes rather than crash mid-table.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labkit`` command; returns the exit status."""
    _tolerate_narrow_consoles()
    arguments = build_parser().parse_args(argv)
    if getattr(arguments, "data_dir", None) is not None:
        # Through the environment, so that the notebooks' kernels read the same folder.
        os.environ[DATA_DIR_ENV] = str(arguments.data_dir.expanduser().resolve())
    try:
        return arguments.handler(arguments)
    except (MnistDataError, ValueError, OSError) as err:
        print(f"labkit {arguments.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
