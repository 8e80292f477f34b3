"""Counts the README states about the tests are the tests' own."""

import re
from pathlib import Path

from tests import test_bad_inputs
from tests.train import test_faults

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def stated(pattern):
    """The integers of the README sentence matching `pattern` (exactly one must)."""
    (match,) = re.findall(pattern, README.replace("\n", " "))
    return tuple(int(n) for n in (match if isinstance(match, tuple) else (match,)))


def test_bad_input_cases_are_counted_right():
    cases = len(test_bad_inputs.CLI_CASES) + len(test_bad_inputs.PYTHON_CASES)
    assert stated(r"`tests/test_bad_inputs\.py` holds the (\d+) cases") == (cases,)


def test_kill_counts_are_the_fault_test_ones():
    kills = test_faults.KILLS
    assert stated(r"tested with (\d+) kills, (\d+) of them during a save") == (kills, kills // 2)
