# Sourced by every queue here: stop on unset variables, run from the repository root, and
# define PY (the Python, $PYTHON or the project's .venv), RUNS (the runs root, $GEM_RUNS or
# ~/gem-runs) and resume_flag (--resume only where a run has a finished checkpoint, a folder
# named by its step: a fresh run, or one killed before its first save, refuses it).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-.venv/bin/python}"
RUNS="${GEM_RUNS:-$HOME/gem-runs}"
resume_flag() { ls "$1/checkpoints" 2>/dev/null | grep -qx '[0-9][0-9]*' && echo --resume; }
# The suite commands list the shorter runs first (BC, IQL, then GEM): a suite pair is kept
# (its results committed, experiments/suite.py --keep) only once all its stages finish, and a
# session on a fresh machine can finish BC's and IQL's pairs where GEM's needs longer.
