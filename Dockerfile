# An image for grading students' notebooks where bubblewrap, the grader's sandbox, does not exist
# (macOS, Windows): the container is then the sandbox. How to run it, with the container's
# network off and the submissions read-only: docs/instructors.md, "Grading on macOS or Windows".
#
#   docker build -t labkit-grader .
#
# .dockerignore keeps .venv, submissions, grades and MNIST files out of the image.
FROM python:3.12
COPY . /kit
RUN pip install --no-cache-dir -c /kit/constraints.txt /kit
