"""VAE Lab Kit's instructor tools and the ``labkit`` command; students never import this package.

* ``labkit_instructor.cli``: the ``labkit`` command (``check``, ``run``, ``grade``, ``release``,
  ``tag-cells``);
* ``runner``: the one notebook runner of ``labkit run`` and ``labkit grade --execute``;
* ``notebook_files``: reading students' files and what ``labkit.report_*`` stored in them;
* ``rubrics`` and ``checks``: the rubrics as data, and the check behind each kind of item;
* ``cells``: the cells' nbgrader metadata, and a submission matched against the instructor's
  notebook (locked cells restored, hidden tests run);
* ``grading``: one notebook's grade; ``batch``: a class at once; ``exports``: CSV, feedback and
  Gradescope; ``sandbox``: bubblewrap around each executed notebook; ``release``: student copies.

Importing this package starts no TensorFlow (it uses only labkit's TensorFlow-free settings and
data modules): ``labkit grade`` starts in a fraction of a second, and only ``--execute`` and
``labkit check``/``run`` start TensorFlow.
"""

from labkit_instructor.cells import LabTemplate, match, restore, tag_cells, tag_notebooks
from labkit_instructor.grading import Grader, GradeReport, find_submissions, grade_notebook
from labkit_instructor.notebook_files import (
    NotGradable,
    multiline_text,
    read_checks,
    read_notebook_file,
    read_results,
)
from labkit_instructor.release import release_notebook, release_notebooks, strip_hidden_tests
from labkit_instructor.rubrics import Rubric, RubricItem, load_rubrics

__all__ = [
    "GradeReport",
    "Grader",
    "LabTemplate",
    "NotGradable",
    "Rubric",
    "RubricItem",
    "find_submissions",
    "grade_notebook",
    "load_rubrics",
    "match",
    "multiline_text",
    "read_checks",
    "read_notebook_file",
    "read_results",
    "release_notebook",
    "release_notebooks",
    "restore",
    "strip_hidden_tests",
    "tag_cells",
    "tag_notebooks",
]
