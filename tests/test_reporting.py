"""labkit.reporting: tables, and results a notebook stores for programs to read."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

import labkit
import labkit_instructor
from labkit.reporting import CHECK_MIME_TYPE, RESULTS_MIME_TYPE, _format_value, report_check


def test_format_table_aligns_columns():
    table = labkit.format_table(["name", "value"], [["loss", 151.234], ["mse", 0.012345], ["n", 7]])
    assert table.splitlines() == [
        "name    value",
        "----  -------",
        "loss   151.23",
        " mse  0.01235",
        "   n        7",
    ]
    assert _format_value(159.44, decimals=1) == "159.4" and _format_value(0.0063831) == "0.006383"


def test_results_round_trip_through_a_notebook():
    shown = labkit.report_results({"test_negative_elbo_nats": np.float32(151.5), "units": 2})
    bundle = shown._repr_mimebundle_()
    assert "test_negative_elbo_nats" in bundle["text/plain"]
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "x", outputs=[nbformat.v4.new_output("execute_result", data=bundle)]
            )
        ]
    )
    assert labkit_instructor.read_results(notebook) == {
        "test_negative_elbo_nats": 151.5,
        "units": 2,
    }
    assert type(bundle[RESULTS_MIME_TYPE]["test_negative_elbo_nats"]) is float


def test_results_must_be_numbers_or_text():
    with pytest.raises(ValueError, match="Received: history="):
        labkit.report_results({"history": [1, 2]})


def test_report_check_shows_each_check_and_stores_the_outcome():
    check = report_check("binarize", {"keeps the shape": True, "zeros and ones": np.False_})
    bundle = check._repr_mimebundle_()
    assert bundle["text/plain"].splitlines() == [
        "exercise binarize: FAIL (1 of 2 checks)",
        "  PASS  keeps the shape",
        "  FAIL  zeros and ones",
    ]
    record = bundle[CHECK_MIME_TYPE]
    assert record == {
        "name": "binarize",
        "passed": False,
        "checks": {"keeps the shape": True, "zeros and ones": False},
    }
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("check")
    cell.outputs = [nbformat.v4.new_output("execute_result", data=bundle, execution_count=1)]
    notebook.cells = [cell]
    assert labkit_instructor.read_checks(notebook) == {
        "binarize": {"passed": False, "checks": record["checks"]}
    }


@pytest.mark.parametrize(
    "name, checks, message",
    [
        ("", {"x": True}, "name must be a non-empty string"),
        ("ex", {}, "needs at least one check"),
        ("ex", {"close": 0.999}, "each check must be True or False"),
    ],
)
def test_report_check_rejects_bad_input(name, checks, message):
    with pytest.raises(ValueError, match=message):
        report_check(name, checks)


def test_report_check_raises_naming_the_failures_only_under_nbgrader(monkeypatch):
    checks = {"keeps the shape": True, "zeros stay zeros": False, "ones stay ones": False}
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not report_check("binarize", checks).passed  # shown, not raised
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="binarize fails: zeros stay zeros; ones stay ones"):
        report_check("binarize", checks)
    assert report_check("binarize", {"keeps the shape": True}).passed


def test_both_packages_spell_the_mime_types_alike():
    # labkit writes the records; labkit_instructor reads them without importing labkit.
    from labkit_instructor import notebook_files

    assert notebook_files.RESULTS_MIME_TYPE == RESULTS_MIME_TYPE
    assert notebook_files.CHECK_MIME_TYPE == CHECK_MIME_TYPE
