"""Grades an instructor can trust: the lab's cells restored, students' code sandboxed.

The tiny lab of ``tests/tiny_lab.py`` (its instructor notebook, rubric and release; the
``tiny_lab`` fixture) keeps these tests fast: its kernels need no TensorFlow. Each bad
submission is a test: it is graded or reported on its own row, the batch goes on, and no student
file changes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import sys
from pathlib import Path

import jsonschema
import pytest
from nbformat.v4 import new_code_cell
from tiny_lab import (
    GRADESCOPE_RESULTS,
    MAX_POINTS,
    RUBRIC_ITEMS,
    UNSOLVED_POINTS,
    _cell,
    _grader,
    _points,
    _solve,
    _student,
)

import labkit_instructor
import labkit_instructor.exports
from labkit_instructor.batch import grade_class
from labkit_instructor.cells import match
from labkit_instructor.cli import main
from labkit_instructor.limits import MESSAGE_BYTES
from labkit_instructor.sandbox import Sandbox, SandboxUnavailable, check_sandbox


def _forge(notebook) -> None:
    # The attack of the issue: the check and Result cells rewritten to claim success.
    _cell(notebook, "report_check(")["source"] = 'report_check("double", {"everything": True})'
    _cell(notebook, "report_results(")["source"] = 'report_results({"answer": 42})'


# --- The metadata ---


def test_tag_cells_marks_solution_grade_results_and_locked_cells(tiny_lab):
    notebook = json.loads((tiny_lab["source"] / "01_tiny.ipynb").read_text(encoding="utf-8"))
    records = [cell["metadata"]["nbgrader"] for cell in notebook["cells"]]
    assert [(r["solution"], r["grade"], r["locked"]) for r in records] == [
        (False, False, True),
        (False, False, True),
        (False, False, True),
        (True, False, False),
        (False, True, True),
        (False, False, True),
        (True, True, False),  # nbgrader: a Markdown answer is graded by hand (0 points there)
    ]
    assert records[4]["grade_id"] == "exercise_double" and records[4]["points"] == 3
    assert records[5]["grade_id"] == "results"
    assert all(r["schema_version"] == 3 for r in records)
    assert notebook["metadata"]["labkit"]["lab"] == "01_tiny"  # graded as 01_tiny if renamed
    assert labkit_instructor.tag_cells(notebook, tiny_lab["rubrics"]["01_tiny"]) == 0  # stable
    del notebook["metadata"]["labkit"]
    assert labkit_instructor.tag_cells(notebook, tiny_lab["rubrics"]["01_tiny"]) == 1
    assert notebook["metadata"]["labkit"] == {"lab": "01_tiny"}


def test_tag_cells_refuses_a_rubric_and_notebook_that_disagree(tiny_lab):
    notebook = json.loads((tiny_lab["source"] / "01_tiny.ipynb").read_text(encoding="utf-8"))
    _cell(notebook, "report_check(")["source"] = 'report_check("triple", {"x": True})'
    with pytest.raises(ValueError, match="checks exercise 'triple', which 01_tiny's rubric"):
        labkit_instructor.tag_cells(notebook, tiny_lab["rubrics"]["01_tiny"])


def test_the_kit_notebooks_metadata_matches_the_rubrics():
    # What `labkit tag-cells notebooks --check` checks: rubric and notebooks cannot drift.
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    changes = labkit_instructor.tag_notebooks(folder, labkit_instructor.load_rubrics(), write=False)
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    assert len(changes) == len(notebooks) == 7, changes
    assert all(count == 0 for _, count in changes), changes


# --- Forged and damaged submissions ---


def test_a_forged_notebook_scores_no_more_than_an_honest_unsolved_one(tiny_lab, sandbox):
    honest = _student(tiny_lab, "honest")
    forged = _student(tiny_lab, "forger", _forge)
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    honest_report, forged_report = grader.grade(honest), grader.grade(forged)
    assert honest_report.points == forged_report.points == UNSOLVED_POINTS, forged_report.feedback()
    assert "the check cell of exercise 'double' was edited (the lab's version ran)" in (
        forged_report.notes
    )
    # Without --execute the forged outputs are there, but the edited cells earn nothing.
    stored = _grader(tiny_lab).grade(forged)
    assert _points(stored)["exercise_double"] == 0 and _points(stored)["answer"] == 0
    assert "which was edited" in stored.feedback()


def test_a_solved_notebook_gets_full_marks_and_hidden_tests_run(tiny_lab, sandbox):
    solved = _student(tiny_lab, "solved", _solve)
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    assert grader.grade(solved).points == MAX_POINTS
    # Passes the visible check, fails the hidden one: only a real run catches it.
    tricked = _student(tiny_lab, "tricked", lambda nb: _solve(nb, "return 4 if x == 2 else x"))
    report = grader.grade(tricked)
    assert _points(report)["exercise_double"] == 0
    # The hidden check is counted, never quoted: its name is its code here.
    assert "1 hidden check(s)" in report.feedback()
    assert "double(-1)" not in report.feedback()


def test_a_deleted_locked_cell_is_restored_or_costs_the_items_that_read_it(tiny_lab, sandbox):
    def delete_check(notebook):
        notebook["cells"].remove(_cell(notebook, "report_check("))

    path = _student(tiny_lab, "deleter", lambda nb: (_solve(nb), delete_check(nb)))
    executed = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(path)
    assert executed.points == MAX_POINTS
    assert "the check cell of exercise 'double' was deleted (the lab's version ran)" in (
        executed.notes
    )
    stored = _grader(tiny_lab).grade(path)
    assert {name for name, points in _points(stored).items() if points == 0} >= {
        "exercise_double",
        "ran",
        "setup",
    }


def test_duplicate_ids_and_reordered_cells_are_matched(tiny_lab, sandbox):
    def copy_check_and_swap(notebook):
        check = _cell(notebook, "report_check(")
        forged = json.loads(json.dumps(check))  # JupyterLab's copy keeps the metadata
        forged["source"] = 'report_check("double", {"everything": True})'
        forged["id"] = "pasted1"
        notebook["cells"].insert(1, forged)
        _solve(notebook, "return x")  # wrong: the forged copy must not rescue it

    path = _student(tiny_lab, "copier", copy_check_and_swap)
    found = match(
        labkit_instructor.LabTemplate(_read(tiny_lab["source"]), "tiny"), _read_path(path)
    )
    twice = "the check cell of exercise 'double' appears 2 times"
    assert f"{twice}; the copies were removed" in found.notes(restored=True)
    # Without running, the first copy (the forged one, pasted above) is the one read: edited.
    assert f"{twice}; the first counts" in found.notes(restored=False)
    assert "the check cell of exercise 'double' was edited" in found.notes(restored=False)
    assert _points(_grader(tiny_lab).grade(path))["exercise_double"] == 0
    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(path)
    assert _points(report)["exercise_double"] == 0


def _read(folder: Path) -> dict:
    return _read_path(folder / "01_tiny.ipynb")


def _read_path(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_cell_turned_into_markdown_runs_as_code_again(tiny_lab, sandbox):
    def retype(notebook):
        _solve(notebook)
        solution = _cell(notebook, "def double")
        solution["cell_type"] = "markdown"
        del solution["outputs"], solution["execution_count"]
        check = _cell(notebook, "report_check(")
        check["cell_type"] = "markdown"
        del check["outputs"], check["execution_count"]

    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(
        _student(tiny_lab, "retyper", retype)
    )
    assert report.points == MAX_POINTS
    assert any("turned from code into markdown" in note for note in report.notes)


# --- What the sandbox stops ---


def test_an_infinite_loop_is_stopped_and_the_batch_goes_on(tiny_lab, sandbox):
    looping = _student(tiny_lab, "a_loop", lambda nb: _solve(nb, "while True: pass"))
    solved = _student(tiny_lab, "b_solved", _solve)
    stream = io.StringIO()
    grader = labkit_instructor.Grader(
        tiny_lab["rubrics"], tiny_lab["source"], execute=True, sandbox=sandbox, cell_timeout=3
    )
    reports = grade_class(grader, [looping, solved], jobs=2, stream=stream)
    assert "ran past the per-cell limit of 3 s" in reports[0].execution_note
    assert reports[1].points == MAX_POINTS
    assert "[2/2]" in stream.getvalue()


def test_ten_megabytes_printed_are_cut_and_reported(tiny_lab, sandbox):
    path = _student(
        tiny_lab, "printer", lambda nb: _solve(nb, "print('x' * 10_000_000)\n    return 2 * x")
    )
    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(path)
    cut = re.compile(
        r"printed or displayed \d{2,3},\d{3},\d{3} characters; the grader kept the first 5,000,000"
    )
    assert any(cut.search(note) for note in report.notes), report.notes
    assert report.error is None and _points(report)["setup"] == 1


def test_a_display_over_the_message_limit_is_dropped_unread_and_reported(tiny_lab, sandbox):
    size = MESSAGE_BYTES + 4_000_000  # just over: no more to send than the limit needs
    code = f"import IPython\n    IPython.display.display({{'text/plain': 'x' * {size}}}, raw=1)"
    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(
        _student(tiny_lab, "displayer", lambda nb: _solve(nb, f"{code}\n    return 2 * x"))
    )
    cut = re.compile(rf"cell \d+ sent an output over {MESSAGE_BYTES:,} bytes: dropped unread")
    assert any(cut.search(note) for note in report.notes), report.notes


def _attack(tiny_lab, sandbox, name: str, code: str):
    path = _student(tiny_lab, name, lambda nb: _solve(nb, f"{code}\n    return 2 * x"))
    before = {p: p.read_bytes() for p in tiny_lab["root"].rglob("*.ipynb")}
    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(path)
    assert {p: p.read_bytes() for p in tiny_lab["root"].rglob("*.ipynb")} == before
    return report


def test_a_cell_cannot_write_outside_its_folder(tiny_lab, sandbox, tmp_path):
    target = tmp_path / "written-by-student.txt"
    report = _attack(tiny_lab, sandbox, "writer", f"open({str(target)!r}, 'w').write('x')")
    assert not target.exists()
    assert "FileNotFoundError" in report.feedback() or "Read-only" in report.feedback()
    home_file = Path.home() / "labkit-sandbox-test.txt"
    _attack(
        tiny_lab,
        sandbox,
        "home_writer",
        f"import os; open(os.path.expanduser('~/{home_file.name}'), 'w')",
    )
    assert not home_file.exists()


def test_a_cell_cannot_read_another_submission_the_sources_or_the_rubric(tiny_lab, sandbox):
    other = _student(tiny_lab, "victim", _solve)
    paths = [other, tiny_lab["source"] / "01_tiny.ipynb", tiny_lab["rubric"]]
    report = _attack(
        tiny_lab, sandbox, "reader", f"[open(p).read() for p in {list(map(str, paths))!r}]"
    )
    assert "FileNotFoundError" in report.feedback()
    assert _points(report)["ran"] == 0


def test_a_cell_cannot_reach_the_network(tiny_lab, sandbox):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        report = _attack(tiny_lab, sandbox, "caller", code)
    assert "ConnectionRefusedError" in report.feedback() or "OSError" in report.feedback()


def test_no_process_outlives_its_notebook(tiny_lab, sandbox):
    marker = "31337.25"  # a sleep nobody else starts
    code = f"import subprocess; subprocess.Popen(['sleep', '{marker}'], start_new_session=True)"
    report = _attack(tiny_lab, sandbox, "forker", code)
    assert report.error is None and any("imports subprocess" in note for note in report.notes)
    left = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in command:
            left.append(command)
    assert left == []


def test_memory_beyond_the_cap_raises_in_the_cell(tiny_lab, sandbox):
    path = _student(
        tiny_lab, "hog", lambda nb: _solve(nb, "x = bytearray(3 * 2**30)\n    return 2 * x")
    )
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox, memory_megabytes=1_000)
    assert "MemoryError" in grader.grade(path).feedback()


def test_the_sandbox_hides_the_grader_and_its_environment(sandbox, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET", "hunter2")
    with Sandbox(sandbox) as box:
        command = box.command(
            [sys.executable, "-c", "import os; print(os.environ.get('GRADER_SECRET'))"]
        )
        env = box.environment()
    assert "GRADER_SECRET" not in env and env["HOME"] == str(box.workdir)
    assert "--unshare-pid" in command and "--unshare-net" in command
    assert "--die-with-parent" in command and "--cap-drop" in command
    # The empty /tmp is mounted before the folders shown inside it (a CI checkout under /tmp).
    tmp = command.index("--tmpfs")
    assert command[tmp + 1] == "/tmp"
    assert tmp < command.index(str(Path(sys.prefix))) and tmp < command.index(str(box.workdir))


# --- Where there is no sandbox ---


def test_no_sandbox_on_macos_or_windows_says_how_to_get_one(monkeypatch):
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        with pytest.raises(SandboxUnavailable, match="Docker or Podman") as raised:
            check_sandbox()
        assert "--no-sandbox" in str(raised.value)


def test_no_bubblewrap_on_linux_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        check_sandbox()


# --- Batches and exports ---


def test_the_csv_grows_row_by_row_and_resume_skips_what_is_done(tiny_lab):
    paths = [_student(tiny_lab, name, _solve) for name in ("ann", "ben", "cat")]
    grades = tiny_lab["root"].parent / "grades.csv"
    grader = _grader(tiny_lab)
    grade_class(grader, paths[:2], csv_path=grades, stream=io.StringIO())
    stream = io.StringIO()
    grade_class(grader, paths, csv_path=grades, resume=True, stream=stream)
    assert "--resume: 2 notebook(s) already in" in stream.getvalue()
    assert re.search(r"\[1/1\] \S*/cat/01_tiny\.ipynb  1/7 points", stream.getvalue())
    with grades.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["student_id"] for row in rows] == ["ann", "ben", "cat"]
    # Not executed and never run by the student: only the written Observations earn a point.
    assert rows[0]["total"] == "1" and rows[0]["max"] == str(MAX_POINTS)
    assert rows[0]["percent"] == f"{100 / MAX_POINTS:.1f}"


def test_student_ids_follow_a_pattern(tmp_path):
    paths = [tmp_path / "sub" / "2024-0042_ann" / "lab.ipynb", tmp_path / "sub" / "x.ipynb"]
    ids = labkit_instructor.exports.StudentIds(paths, r"^(?P<id>\d{4}-\d{4})_")
    assert ids(paths[0]) == "2024-0042" and ids(paths[1]) == ""
    (tmp_path / "sub" / "2024-0042_ann").mkdir(parents=True)
    default = labkit_instructor.exports.StudentIds(paths, folders=[tmp_path / "sub"])
    assert default(paths[0]) == "2024-0042_ann" and default(paths[1]) == "x"
    nested = tmp_path / "sub" / "section1" / "bo" / "lab.ipynb"
    assert (
        labkit_instructor.exports.StudentIds([nested], folders=[tmp_path / "sub"])(nested) == "bo"
    )
    with pytest.raises(ValueError, match="not a regular expression"):
        labkit_instructor.exports.StudentIds(paths, "(")


def test_no_sandbox_runs_unconfined_with_a_warning(tiny_lab, capsys):
    path = _student(tiny_lab, "trusting", _solve)
    rubric = tiny_lab["rubric"]
    arguments = ["grade", str(path), "--execute", "--no-sandbox"]
    arguments += ["--rubric", str(rubric), "--source", str(tiny_lab["source"])]
    assert main(arguments) == 0
    captured = capsys.readouterr()
    assert "--no-sandbox: students' code runs with your rights" in captured.err
    assert f"{MAX_POINTS}/{MAX_POINTS} points" in captured.out


def test_gradescope_results_follow_gradescope_s_specification(tiny_lab, sandbox):
    solved, unsolved = _student(tiny_lab, "ann", _solve), _student(tiny_lab, "ben")
    out = tiny_lab["root"].parent / "results.json"
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    reports = grade_class(grader, [solved], gradescope_path=out, stream=io.StringIO())
    results = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    assert results["score"] == reports[0].points == MAX_POINTS
    assert [test["name"] for test in results["tests"]] == [item["id"] for item in RUBRIC_ITEMS]
    for test in results["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
    grade_class(grader, [unsolved], gradescope_path=out, stream=io.StringIO())
    results = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    assert results["score"] == UNSOLVED_POINTS
    # Two notebooks of one lab in a submission: the better counts, once.
    both = labkit_instructor.exports.gradescope_results([*reports, grader.grade(unsolved)])
    assert both["score"] == MAX_POINTS and len(both["tests"]) == len(RUBRIC_ITEMS)
    assert "01_tiny.ipynb is a second notebook of 01_tiny: not counted" in both["output"]


def test_a_submission_without_a_notebook_still_gets_gradescope_results(tiny_lab, tmp_path):
    empty = tmp_path / "submission"
    empty.mkdir()
    out = tmp_path / "results.json"
    rubric = tiny_lab["rubric"]
    arguments = ["grade", str(empty), "--rubric", str(rubric), "--source", str(tiny_lab["source"])]
    assert main([*arguments, "--gradescope", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    assert results["score"] == 0 and "No notebooks" in results["output"]


def test_an_existing_csv_is_never_overwritten_and_resume_needs_one(tiny_lab):
    path = _student(tiny_lab, "ann", _solve)
    grades = tiny_lab["root"].parent / "grades.csv"
    grades.write_text("last week's grades\n", encoding="utf-8")
    with pytest.raises(ValueError, match="exists: pass --resume"):
        grade_class(_grader(tiny_lab), [path], csv_path=grades, stream=io.StringIO())
    assert grades.read_text(encoding="utf-8") == "last week's grades\n"
    with pytest.raises(ValueError, match="other columns"):
        grade_class(_grader(tiny_lab), [path], csv_path=grades, resume=True, stream=io.StringIO())
    with pytest.raises(ValueError, match="--resume adds to a CSV file"):
        grade_class(_grader(tiny_lab), [path], resume=True, stream=io.StringIO())


def test_damaged_cells_are_run_or_reported_never_a_crash(tiny_lab, sandbox):
    def damage(notebook):
        _solve(notebook)
        solution = _cell(notebook, "def double")
        solution["source"] = solution["source"].splitlines(keepends=True)  # lists are fine
        solution.pop("metadata")  # an editor dropped it: the cell id still matches
        notebook["metadata"] = "not a dict"
        notebook["cells"].append({"cell_type": "code", "source": ["x = 1"]})  # no metadata

    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(
        _student(tiny_lab, "damaged", damage)
    )
    assert report.error is None and report.points == MAX_POINTS, report.feedback()
    bad = _student(tiny_lab, "no_cells", lambda notebook: notebook.pop("cells"))
    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(bad)
    assert "it has no cells" in report.error or "not a list" in report.error


def test_a_solution_rewritten_in_a_new_cell_runs(tiny_lab, sandbox):
    def rewrite(notebook):
        old = _cell(notebook, "def double")
        index = notebook["cells"].index(old)
        notebook["cells"][index] = {
            "cell_type": "code",
            "metadata": {},
            "source": "def double(x):\n    return x + x",
            "outputs": [],
            "execution_count": None,
        }

    report = _grader(tiny_lab, execute=True, sandbox=sandbox).grade(
        _student(tiny_lab, "rewriter", rewrite)
    )
    assert report.points == MAX_POINTS, report.feedback()
    assert any("was deleted" in note for note in report.notes)


def test_a_student_version_is_refused_as_the_source(tiny_lab):
    with pytest.raises(ValueError, match="looks like a student version"):
        labkit_instructor.Grader(tiny_lab["rubrics"], tiny_lab["release"])


def test_tag_cells_refuses_a_solution_inside_a_check_cell(tiny_lab):
    notebook = _read(tiny_lab["source"])
    _cell(notebook, "report_check(")["source"] += "\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    with pytest.raises(ValueError, match="holds both a solution and a labkit"):
        labkit_instructor.tag_cells(notebook, tiny_lab["rubrics"]["01_tiny"])


def test_figures_and_passes_printed_by_added_cells_do_not_count(tiny_lab):
    def add_cell(notebook):
        notebook["cells"].insert(
            2,
            {
                "cell_type": "code",
                "metadata": {},
                "source": "print('PASS')",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "PASS\n"}],
                "execution_count": 1,
            },
        )

    report = _grader(tiny_lab).grade(_student(tiny_lab, "adder", add_cell))
    assert _points(report)["setup"] == 0  # the lab's setup cell never ran: no PASS of its own


def test_tampering_costs_what_it_could_forge_and_is_noted(tiny_lab):
    def tamper(notebook):
        _cell(notebook, "def double")["source"] = (
            "def double(x):\n    return 0\n"
            "_real = report_check\n"
            "report_check = lambda name, checks: _real(name, {k: True for k in checks})"
        )

    honest = _grader(tiny_lab).grade(_student(tiny_lab, "honest"))
    report = _grader(tiny_lab).grade(_student(tiny_lab, "tamper", tamper))
    points = _points(report)
    assert points["exercise_double"] == 0 and points["answer"] == 0
    assert report.points <= honest.points
    assert any("uses the kit's reporting (report_check)" in note for note in report.notes)
    assert "no points: cell" in report.feedback()


def test_observations_of_numbers_alone_earn_no_text_points(tiny_lab):
    def numbers_only(notebook):
        _cell(notebook, "## Observations")["source"] = "## Observations\n\n42 0.81 12,000 3.5 7"

    report = _grader(tiny_lab).grade(_student(tiny_lab, "numbers", numbers_only))
    assert _points(report)["observations"] == 0
    assert "0 words (numbers not counted)" in report.feedback()


def test_lone_surrogates_in_submissions_never_stop_the_batch(tiny_lab, tmp_path):
    def poison(notebook):
        notebook["cells"].append(new_code_cell("%\udc80"))  # a magic no one can encode

    attacker, victim = _student(tiny_lab, "attacker", poison), _student(tiny_lab, "victim")
    odd = _student(tiny_lab, "odd\udcff")  # a folder name that is not UTF-8
    grades = tmp_path / "grades.csv"
    grade_class(
        _grader(tiny_lab),
        [attacker, odd, victim],
        csv_path=grades,
        feedback_dir=tmp_path / "feedback",
        stream=io.StringIO(),
    )
    rows = list(csv.DictReader(grades.open(encoding="utf-8")))
    assert [row["student_id"] for row in rows] == ["attacker", "odd\\udcff", "victim"]
    assert "runs %\\udc80" in rows[0]["notes"]
    assert len(list((tmp_path / "feedback").iterdir())) == 3
