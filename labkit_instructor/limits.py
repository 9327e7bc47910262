"""The limits of running and grading notebooks, in one place (and free of heavy imports)."""

# Seconds one cell may run, in `labkit run` and `labkit grade --execute` alike: a full-mode
# training cell takes a few minutes on 2 cores.
CELL_TIMEOUT_SECONDS = 1_200
# Seconds one student's notebook may run under `labkit grade --execute`.
TOTAL_TIMEOUT_SECONDS = 1_800
# A lab notebook with all its figures is under 1 MB; larger files are reported, not read.
MAX_NOTEBOOK_MEGABYTES = 50.0
# The memory cap of a sandboxed notebook, in MiB: a lab's training peaks near 1.2 GB resident.
DEFAULT_MEMORY_MEGABYTES = 4_096
# Characters of one cell's printed text that grading keeps (the rest is cut, and reported).
OUTPUT_CHARACTERS = 1_000_000
