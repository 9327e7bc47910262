"""Rubrics as data: ``rubrics.json`` read and checked, one :class:`Rubric` per lab."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labkit_instructor.checks import CHECKS

__all__ = ["DEFAULT_RUBRICS", "Rubric", "RubricItem", "load_rubrics"]

DEFAULT_RUBRICS = Path(__file__).with_name("rubrics.json")
LAB_FILE = re.compile(r"^(\d\d)_")


@dataclass(frozen=True)
class RubricItem:
    """One thing the grader checks, worth ``points``; ``options`` configure the ``check``."""

    id: str
    points: float
    check: str
    description: str
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rubric:
    """The rubric of one lab: ``lab`` is the notebook's name without ``.ipynb``."""

    lab: str
    items: tuple[RubricItem, ...]

    @property
    def number(self) -> str:
        return self.lab[:2]

    @property
    def max_points(self) -> float:
        return sum(item.points for item in self.items)


def load_rubrics(path: Path | None = None) -> dict[str, Rubric]:
    """Read and check the rubrics, ``{lab: Rubric}`` (default: the kit's ``rubrics.json``).

    The file holds ``{"labs": {"03_vae": [item, ...], ...}}``; an item is an object with
    ``id``, ``points``, ``check`` (one of :data:`CHECKS`), ``description`` and the options its
    check needs.

    Raises:
        ValueError: The file is not valid JSON, or an item is incomplete (the message names it).
        FileNotFoundError: No file at ``path``.
    """
    path = Path(path) if path is not None else DEFAULT_RUBRICS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"rubric file {path} is not valid JSON: {err}.") from err
    labs = data.get("labs") if isinstance(data, dict) else None
    if not isinstance(labs, dict) or not labs:
        raise ValueError(f"rubric file {path} needs a 'labs' object: {{lab name: [items]}}.")
    rubrics = {}
    for lab, items in labs.items():
        if not LAB_FILE.match(lab) or not isinstance(items, list) or not items:
            raise ValueError(
                f"rubric file {path}: lab {lab!r} needs a name like '03_vae' and a list of items."
            )
        rubrics[lab] = Rubric(lab, tuple(_rubric_item(path, lab, item) for item in items))
        if len({item.id for item in rubrics[lab].items}) != len(items):
            raise ValueError(f"rubric file {path}: lab {lab} repeats an item id.")
    return rubrics


def _rubric_item(path: Path, lab: str, item: object) -> RubricItem:
    where = f"rubric file {path}, lab {lab}"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ValueError(f"{where}: every item needs an 'id'. Received: {item!r}.")
    where += f", item {item['id']!r}"
    check = item.get("check")
    if check not in CHECKS:
        raise ValueError(f"{where}: unknown check {check!r}; use one of {', '.join(CHECKS)}.")
    points = item.get("points")
    if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
        raise ValueError(f"{where}: 'points' must be a positive number. Received: {points!r}.")
    missing = [name for name in CHECKS[check].options if name not in item]
    if missing:
        raise ValueError(f"{where}: the check {check!r} needs {', '.join(missing)}.")
    for name in ("max", "min", "min_words"):
        value = item.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {name!r} must be a number. Received: {value!r}.")
    results = item.get("results", [])
    if not isinstance(results, list) or not all(isinstance(name, str) for name in results):
        raise ValueError(
            f"{where}: 'results' must be a list of result names. Received: {results!r}."
        )
    sections = item.get("sections", [])
    if not isinstance(sections, list) or not all(isinstance(name, str) for name in sections):
        raise ValueError(f"{where}: 'sections' must be a list of headings. Received: {sections!r}.")
    options = {key: value for key, value in item.items() if key not in ("id", "points", "check")}
    return RubricItem(item["id"], float(points), check, str(item.get("description", "")), options)
