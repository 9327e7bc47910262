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
# Characters of one cell's printed and displayed output that grading keeps (the rest is cut
# as it arrives, and reported): the largest of the labs' cells (a manifold of Lab 06) has 444,246.
OUTPUT_CHARACTERS = 5_000_000
# ... and of a grader's own cell, which sends a check's answers or a lab's models back.
ANSWER_CHARACTERS = 60_000_000
# The largest message a kernel may send its runner (ZeroMQ drops larger ones as they arrive,
# before they take memory): the largest answers a check sends are about 10 MB.
MESSAGE_BYTES = 64 * 2**20
# Processes and threads one sandboxed notebook may run at once (RLIMIT_NPROC): a kernel that
# trains a lab's VAE peaks near 53 threads on 2 cores, and TensorFlow's pools grow by about 3
# threads per core (237 with 64-thread pools, 431 with 128). The limit is this base plus
# PROCESSES_PER_CPU for each core, a wide margin that still stops a fork loop in a second.
MAX_PROCESSES = 512
PROCESSES_PER_CPU = 8
