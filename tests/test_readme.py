"""Counts the README states about the tests are the tests' own, and the tests it cites exist."""

import json
import re
from pathlib import Path

from jaxgen.bench import quality
from tests import test_bad_inputs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def stated(pattern):
    """The integers of the README sentence matching `pattern` (exactly one must)."""
    (match,) = re.findall(pattern, " ".join(README.split()))
    return tuple(int(n) for n in (match if isinstance(match, tuple) else (match,)))


def test_bad_input_cases_are_counted_right():
    cases = len(test_bad_inputs.CLI_CASES) + len(test_bad_inputs.PYTHON_CASES)
    assert stated(r"`tests/test_bad_inputs\.py` holds the (\d+) cases") == (cases,)


def test_the_tests_the_readme_names_exist():
    """Each `tests/PATH.py::NAME` the README cites is a test function of that file."""
    cited = re.findall(r"(tests/[\w/]+\.py)::(\w+)", README)
    assert cited
    for path, name in cited:
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name}"


def fake_run(root, name, seed, fid):
    """A run directory with an evaluation: config.json and eval.json holding `fid`."""
    run = root / "results" / f"{name}_s{seed}"
    run.mkdir(parents=True)
    config = {"seed": seed, "data": {"name": "digits"}, "train": {"steps": 5}}
    (run / "config.json").write_text(json.dumps(config))
    results = {"dataset": "digits", "feature_net": "net/v1", "step": 5, "num_samples": 100}
    (run / "eval.json").write_text(json.dumps({**results, "fid_digits_classifier": fid}))


def test_a_results_block_is_made_from_its_directories_and_a_stale_one_is_found(tmp_path):
    """readme_tables writes summarize's table of the block's directories into the block; a
    number changed in a result file changes the table (what test_readme_tables_are_current
    catches); text outside blocks is kept."""
    for seed, fid in ((0, 20.0), (1, 22.0)):
        fake_run(tmp_path, "dcgan", seed, fid)
    text = "Intro\n<!-- results: results/dcgan_s* --keys fid -->\nold\n<!-- /results -->\nEnd\n"
    made = quality.readme_tables(text, tmp_path)
    assert made.startswith("Intro\n<!-- results: results/dcgan_s* --keys fid -->\n| family |")
    assert "| dcgan | digits | 5 | 0,1 | 21.0 +- 1.4 |" in made and made.endswith("End\n")
    assert quality.readme_tables(made, tmp_path) == made
    (tmp_path / "results" / "dcgan_s1" / "eval.json").write_text(
        (tmp_path / "results" / "dcgan_s1" / "eval.json").read_text().replace("22.0", "24.0")
    )
    assert quality.readme_tables(made, tmp_path) != made


def test_readme_tables_are_current():
    """Every README table between <!-- results: ... --> markers is the table of the committed
    result directories it names (regenerate with `jaxgen summarize --readme README.md`)."""
    root = Path(__file__).resolve().parents[1]
    if (root / "results").is_dir():
        assert quality.RESULTS_BLOCK.search(README), "results/ exists but no README block uses it"
    assert quality.readme_tables(README, root) == README
