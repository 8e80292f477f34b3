"""DESIGN.md's layers: a module of jaxgen/PACKAGE/ imports only jaxgen packages of its own
layer or below. Every import statement counts, also those inside functions."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "jaxgen"

# DESIGN.md's "Layers", bottom to top, with jaxgen/evaluation between train and the cli;
# diffusion (the pure process: schedules, q_sample, samplers) below losses, whose
# noise-prediction objective is built on it.
# bench (`jaxgen bench`, not in DESIGN.md's diagram) is a front end beside cli.py.
LAYERS = ("data", "diffusion", "losses", "models", "metrics", "train", "evaluation", "cli")
LEVEL = {name: i for i, name in enumerate(LAYERS)} | {"bench": LAYERS.index("cli")}


def imported_packages(source, module):
    """(line, X) for each import of jaxgen.X in `source`, the text of module `module`
    (dotted, e.g. 'jaxgen.models.vae'); relative imports are resolved against it."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".")[: -node.level] if node.level else []
            parts = base + (node.module.split(".") if node.module else [])
            names = [parts] if len(parts) > 1 else [parts + [a.name] for a in node.names]
        else:
            continue
        for parts in names:
            if parts[0] == "jaxgen" and len(parts) > 1:
                yield node.lineno, parts[1]


def violations(root=ROOT):
    found = []
    for path in sorted(root.glob("*/**/*.py")):
        package = path.relative_to(root).parts[0]
        module = ".".join(("jaxgen", *path.relative_to(root).with_suffix("").parts))
        for line, other in imported_packages(path.read_text(), module):
            where = f"{path.relative_to(root.parent)}:{line} imports jaxgen.{other}"
            if other not in LEVEL:
                found.append(f"{where}, a package missing from LAYERS")
            elif LEVEL[other] > LEVEL[package]:
                found.append(f"{where}, a layer above {package}")
    return found


def test_every_package_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - set(LEVEL) == set(), "place the new package in LAYERS (DESIGN.md)"


def test_no_module_imports_a_higher_layer():
    found = violations()
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from jaxgen.train.writers import save_png", ["train"]),
        ("import jaxgen.metrics as m", ["metrics"]),
        ("from jaxgen import data, evaluation", ["data", "evaluation"]),
        ("def f():\n    from jaxgen.cli import UsageError", ["cli"]),
        ("from .. import metrics", ["metrics"]),
        ("from . import vae\nfrom .gan import G", ["models", "models"]),
        ("import numpy\nimport jaxgen", []),
    ],
)
def test_imports_are_found(source, expected):
    found = [p for _, p in imported_packages(source, "jaxgen.models.dip")]
    assert found == expected
