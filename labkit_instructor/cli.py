"""The ``labkit`` command: ``check`` and ``run``, and for instructors ``grade``, ``release``,
``tag-cells``, ``gradescope`` and ``classroom``.

``labkit run`` is the kit's main job (the README's first quick-start command). The command lives
here, outside the ``labkit`` package, so that ``labkit grade`` starts without TensorFlow:
``check`` and ``run`` start it, ``grade`` only with ``--execute``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from labkit.config import DATA_DIR_ENV  # labkit.config and labkit.data start no TensorFlow
from labkit_instructor.batch import grade_class
from labkit_instructor.cells import tag_notebooks
from labkit_instructor.exports import write_gradescope
from labkit_instructor.grading import Grader, find_submissions
from labkit_instructor.limits import (
    CELL_TIMEOUT_SECONDS,
    DEFAULT_MEMORY_MEGABYTES,
    MAX_NOTEBOOK_MEGABYTES,
    TOTAL_TIMEOUT_SECONDS,
)
from labkit_instructor.notebook_files import text_table
from labkit_instructor.release import release_notebooks
from labkit_instructor.rubrics import load_rubrics

if TYPE_CHECKING:
    from labkit.config import LabSettings


def _check_data_path(given: Path | None) -> None:
    """Stop at once, with labkit.data's message, when the MNIST path of ``--data-dir``
    (``given``) or ``LABKIT_DATA_DIR`` does not exist or is one IDX file: labkit.data needs no
    TensorFlow for this, and the notebooks would say so only once TensorFlow has started."""
    from labkit.config import data_dir_from_env
    from labkit.data import check_data_path

    path = given.expanduser() if given is not None else data_dir_from_env()
    if path is not None:
        check_data_path(path, "--data-dir" if given is not None else DATA_DIR_ENV)


def _print_table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def check_environment(settings: LabSettings) -> None:
    """Print versions, devices and settings, then load and verify MNIST.

    Raises:
        MnistDataError: MNIST is missing or damaged (the message says how to fix it).
    """
    # Imported here, not above: labkit starts TensorFlow, which only `check` and `run` need.
    import numpy as np

    from labkit.backend import runtime_summary
    from labkit.data import load_mnist

    print("Environment")
    _print_table(list(runtime_summary().items()))
    print("Settings")
    source = str(settings.data_dir or "Keras's cache, else its download (keras.utils.get_file)")
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
    print("MNIST (checksums verified)")
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
    from labkit.config import load_settings

    check_environment(load_settings())
    return 0


def _command_run(arguments: argparse.Namespace) -> int:
    from labkit.config import QUICK_ENV, load_settings
    from labkit_instructor.runner import (
        RunProgress,
        expected_seconds,
        find_notebooks,
        run_notebook,
        summary_table,
    )

    if arguments.quick:  # through the environment, which the notebooks' kernels inherit
        os.environ[QUICK_ENV] = "1"
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


def _check_kernel_data() -> None:
    """Stop before grading when the kernels would find no MNIST: every notebook would fail."""
    from labkit_instructor.grading import _data_for_kernel  # imports labkit: --execute only

    try:
        data, why = _data_for_kernel(), ""
    except RuntimeError as err:  # MnistDataError: no mnist.npz in Keras's cache, no download
        data, why = {}, f", and the download failed ({err.__cause__ or err})"
    missing = [str(path) for path in data.values() if not path.exists()]
    if data and not missing:
        return
    found = f"{DATA_DIR_ENV} names {missing[0]}, which does not exist" if missing else ""
    found = found or f"{DATA_DIR_ENV} is not set and Keras's cache has no mnist.npz{why}"
    raise ValueError(
        f"--execute runs the students' notebooks, which load MNIST, but {found}. Set "
        f"{DATA_DIR_ENV} (or pass --data-dir PATH) to a folder of the MNIST files or an "
        "mnist.npz, or run `labkit check` once online to fill Keras's cache. Nothing was graded."
    )


def _command_grade(arguments: argparse.Namespace) -> int:
    try:
        return _grade(arguments)
    except KeyboardInterrupt:
        print("labkit grade: interrupted.", file=sys.stderr)
        return 130


def _warn_of_quick_mode() -> None:
    """Quick mode reaches the graded kernels, whose results the rubric judges by full mode's."""
    from labkit.config import QUICK_ENV, load_settings  # --execute imports labkit anyway

    if load_settings().quick:
        print(
            f"labkit grade: warning: {QUICK_ENV} is set: the notebooks run in quick mode (a "
            "subset of MNIST, 2 epochs), but the rubric's result thresholds are for full mode. "
            f"Unset {QUICK_ENV} to grade for marks.",
            file=sys.stderr,
        )


def _grade(arguments: argparse.Namespace) -> int:
    sandbox = None
    if arguments.memory_mb is not None and (not arguments.execute or arguments.no_sandbox):
        raise ValueError(
            "--memory-mb caps the sandbox's memory, so it needs --execute without --no-sandbox "
            "(in a container, cap the container's memory instead: docker run --memory 8g)."
        )
    if arguments.execute and arguments.no_sandbox:
        print(
            "labkit grade: warning: --no-sandbox: students' code runs with your rights, and can "
            "read and change your files and reach the network.",
            file=sys.stderr,
        )
    elif arguments.execute:
        from labkit_instructor.sandbox import check_sandbox  # needs nbclient: --execute only

        sandbox = check_sandbox()
    if arguments.execute:
        _warn_of_quick_mode()
        _check_kernel_data()
    grader = Grader(
        load_rubrics(arguments.rubric),
        arguments.source,
        lab=arguments.lab,
        execute=arguments.execute,
        sandbox=sandbox,
        memory_megabytes=arguments.memory_mb,
        cell_timeout=arguments.cell_timeout,
        total_timeout=arguments.timeout,
        max_megabytes=arguments.max_megabytes,
    )
    try:
        paths = find_submissions(arguments.paths)
    except FileNotFoundError as err:
        if arguments.gradescope is None:
            raise
        # Gradescope shows the student this, instead of an autograder failure.
        write_gradescope(arguments.gradescope, [], f"Not graded: {err}")
        print(f"labkit grade: {err} Wrote {arguments.gradescope}.", file=sys.stderr)
        return 0
    grade_class(
        grader,
        paths,
        jobs=arguments.jobs,
        csv_path=arguments.csv,
        resume=arguments.resume,
        feedback_dir=arguments.feedback,
        gradescope_path=arguments.gradescope,
        student_id_pattern=arguments.student_id,
        folders=arguments.paths,
    )
    return 0


def _command_release(arguments: argparse.Namespace) -> int:
    released = release_notebooks(arguments.source, arguments.out)
    rows = [[item.released, item.solutions_replaced] for item in released]
    print(text_table(["student notebook", "solutions replaced"], rows))
    return 0


def _command_tag_cells(arguments: argparse.Namespace) -> int:
    changes = tag_notebooks(
        arguments.folder, load_rubrics(arguments.rubric), write=not arguments.check
    )
    print(
        text_table(["notebook", "cells to change" if arguments.check else "cells changed"], changes)
    )
    if arguments.check and any(count for _, count in changes):
        print(
            "The notebooks' cell metadata is out of date with the rubric: run "
            f"labkit tag-cells {arguments.folder}",
            file=sys.stderr,
        )
        return 1
    return 0


def _command_gradescope(arguments: argparse.Namespace) -> int:
    from labkit_instructor.services import build_gradescope

    output = build_gradescope(
        arguments.labs,
        arguments.output,
        source=arguments.source,
        rubric=arguments.rubric,
        data_dir=arguments.data_dir,
        sandbox=not arguments.no_sandbox,
    )
    mnist = f"bundled from {arguments.data_dir}" if arguments.data_dir else "fetched by setup.sh"
    megabytes = output.stat().st_size / 1e6
    print(f"Wrote {output} ({megabytes:.1f} MB; MNIST {mnist}): upload it as the autograder.")
    return 0


def _command_classroom(arguments: argparse.Namespace) -> int:
    from labkit_instructor.services import build_classroom

    output = build_classroom(
        arguments.labs, arguments.output, source=arguments.source, rubric=arguments.rubric
    )
    print(f"Wrote the starter repository {output}/: push it as the assignment's template.")
    return 0


def _command_item_passed(arguments: argparse.Namespace) -> int:
    from labkit_instructor.services import item_passed

    passed, line = item_passed(arguments.results, arguments.lab, arguments.item)
    print(line)
    return 0 if passed else 1


def _add_service_commands(commands) -> None:
    """Add ``gradescope``, ``classroom`` and the classroom workflow's ``item-passed``."""
    labs = argparse.ArgumentParser(add_help=False)
    labs.add_argument("labs", nargs="+", metavar="LAB", help="a lab to grade, e.g. 03_vae")
    labs.add_argument(
        "--source",
        type=Path,
        metavar="DIR",
        help="the instructor notebooks (default: ./notebooks, else the kit's)",
    )
    labs.add_argument(
        "--rubric", type=Path, metavar="FILE", help="a rubric file (default: the kit's)"
    )
    gradescope = commands.add_parser(
        "gradescope",
        parents=[labs],
        help="write Gradescope's autograder zip for these labs",
        description="Write the zip Gradescope's autograder takes: setup.sh, run_autograder, "
        "the labs' instructor notebooks and rubric, the kit's source and pinned versions. "
        "run_autograder grades each submission with labkit grade --execute in the sandbox.",
    )
    gradescope.add_argument("--output", type=Path, required=True, metavar="ZIP")
    gradescope.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="bundle MNIST from DIR (mnist.npz or the IDX files); default: setup.sh downloads it",
    )
    gradescope.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without bubblewrap, where Gradescope's container cannot start it (students' "
        "code can then read the solutions)",
    )
    gradescope.set_defaults(handler=_command_gradescope)
    classroom = commands.add_parser(
        "classroom",
        parents=[labs],
        help="write a GitHub Classroom starter repository for these labs",
        description="Write a starter repository: the student notebooks, a pinned "
        "requirements.txt, and a workflow that grades every push with GitHub Classroom's "
        "autograding actions (one test per rubric item). No solution is written into it.",
    )
    classroom.add_argument("--output", type=Path, required=True, metavar="DIR")
    classroom.set_defaults(handler=_command_classroom)
    passed = commands.add_parser(
        "item-passed",
        help="(the classroom workflow's tests) exit 0 if a rubric item earned its points",
    )
    passed.add_argument("results", type=Path, help="the results.json of labkit grade --gradescope")
    passed.add_argument("lab", help="the lab, e.g. 03_vae")
    passed.add_argument("item", help="the rubric item's id")
    passed.set_defaults(handler=_command_item_passed)


def add_instructor_commands(commands, data_dir_option: argparse.ArgumentParser) -> None:
    """Add ``grade``, ``release``, ``tag-cells``, ``gradescope``, ``classroom`` and
    ``item-passed`` to the ``labkit`` command's subcommands."""
    grade = commands.add_parser(
        "grade",
        parents=[data_dir_option],
        help="grade students' notebooks (a line per notebook, CSV, feedback, Gradescope)",
        description="Grade students' lab notebooks against the kit's rubrics and the "
        "instructor's notebooks. The exit status is 0 whatever the grades; 2 means the command "
        "could not grade (a wrong option, no sandbox, unreadable instructor notebooks, no MNIST "
        "under --execute, the grader failed); 130 means it was interrupted (--resume goes on).",
    )
    grade.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a student's notebook, or a folder of them (searched recursively)",
    )
    grade.add_argument(
        "--source",
        type=Path,
        metavar="DIR",
        help="the instructor notebooks the submissions are checked against (default: "
        "./notebooks, else the notebooks of the checkout the kit is installed from)",
    )
    grade.add_argument(
        "--execute",
        action="store_true",
        help="run each notebook first, rebuilt from the instructor's locked cells around the "
        "student's answers, in a sandbox (bubblewrap, Linux)",
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="with --execute: run students' code without a sandbox, with your rights (inside "
        "a container of its own only)",
    )
    grade.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="grade N notebooks at once (default 1; each --execute kernel uses a core or more)",
    )
    grade.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="write a row per notebook as it finishes: student_id, notebook, lab, status, one "
        "column per rubric item, total, max, percent, seconds, notes",
    )
    grade.add_argument(
        "--resume",
        action="store_true",
        help="with --csv: skip the notebooks already in FILE, and add the others to it",
    )
    grade.add_argument(
        "--student-id",
        metavar="REGEX",
        help="read the student id from each path below the common folder with REGEX (its group "
        "'id', or its first group); default: the notebook's folder below PATH, else its file "
        "name",
    )
    grade.add_argument(
        "--feedback",
        type=Path,
        metavar="DIR",
        help="write one feedback text file per notebook into DIR",
    )
    grade.add_argument(
        "--gradescope",
        type=Path,
        metavar="FILE",
        help="write Gradescope's results.json for these notebooks (one student's submission; "
        "a class is refused: use --csv)",
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
        help="a rubric file of your own (default: the kit's rubrics.json)",
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
        "--memory-mb",
        type=int,
        metavar="MB",
        help=f"with --execute, in the sandbox: memory cap per notebook in MiB (default "
        f"{DEFAULT_MEMORY_MEGABYTES})",
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
        "Markdown answers replaced by a placeholder, hidden tests removed and outputs cleared.",
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
    tag = commands.add_parser(
        "tag-cells",
        help="write every cell's nbgrader metadata from the rubric",
        description="Write each cell's metadata.nbgrader (grade_id, locked, solution, grade, "
        "points) into the instructor notebooks of FOLDER, from their content and the rubric: "
        "solution cells, the exercises' check cells (worth the rubric's points) and locked cells.",
    )
    tag.add_argument("folder", type=Path, metavar="FOLDER", help="folder of instructor notebooks")
    tag.add_argument(
        "--rubric",
        type=Path,
        metavar="FILE",
        help="a rubric file of your own (default: the kit's rubrics.json)",
    )
    tag.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if any notebook's metadata is out of date",
    )
    tag.set_defaults(handler=_command_tag_cells)
    _add_service_commands(commands)


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


def _kit_version() -> str:
    """The installed kit's version, read without importing TensorFlow."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vae-lab-kit")
    except PackageNotFoundError:  # run from a checkout that pip has not installed
        return "(not installed)"


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
    parser.add_argument("--version", action="version", version=f"%(prog)s {_kit_version()}")
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
        "--quick",
        action="store_true",
        help="quick mode: a 6,000-image subset and 2 epochs, for a first try (the same as "
        "setting LABKIT_QUICK=1)",
    )
    run.add_argument(
        "--update-notebooks",
        action="store_true",
        help="for maintainers: after a run without errors, copy the executed "
        "notebooks over the originals (do this in full mode only)",
    )
    run.set_defaults(handler=_command_run)
    add_instructor_commands(commands, _data_dir_option())
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
    try:
        if arguments.command in ("check", "run"):  # seconds before labkit.data would say so
            _check_data_path(arguments.data_dir)
        if getattr(arguments, "data_dir", None) is not None:
            # Through the environment, so that the notebooks' kernels read the same folder.
            os.environ[DATA_DIR_ENV] = str(arguments.data_dir.expanduser().resolve())
        return arguments.handler(arguments)
    except (ValueError, OSError, RuntimeError) as err:  # MnistDataError is a RuntimeError
        print(f"labkit {arguments.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
