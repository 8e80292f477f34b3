"""DESIGN.md's layers: a module of jaxgen/PACKAGE/ imports only jaxgen packages of its own
layer or below. Every import statement counts, also those inside functions."""

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "jaxgen"

# DESIGN.md's "Layers", bottom to top, with jaxgen/evaluation between train and the cli and
# files (atomic writes) at the bottom;
# diffusion (the pure process: schedules, q_sample, samplers) below losses, whose
# noise-prediction objective is built on it.
# Top-level modules count as layers too: runs (run management) loads experiments through
# the entry-point registry, never by import; tasks (the families' shared configs and
# wiring, which experiments import) may restore runs; bench and cli are front ends.
LAYERS = (
    "files", "data", "diffusion", "losses", "models", "metrics", "train", "evaluation", "runs",
    "tasks", "bench", "cli",
)  # fmt: skip
LEVEL = {name: i for i, name in enumerate(LAYERS)} | {"__main__": LAYERS.index("cli")}


@functools.cache
def parse(source):
    """ast.parse, once per text. Every file is parsed here at collection, before any test
    starts threads: CPython 3.11's AST depth counter is shared by threads, and a parse
    racing with code compiled in another thread (a dataclass made in a checkpoint
    reader's thread) fails with 'AST constructor recursion depth mismatch'."""
    return ast.parse(source)


def imported_packages(source, module):
    """(line, X) for each import of jaxgen.X in `source`, the text of module `module`
    (dotted, e.g. 'jaxgen.models.vae'); relative imports are resolved against it."""
    for node in ast.walk(parse(source)):
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


def layer_of(path, root=ROOT):
    """jaxgen/X/... -> X; jaxgen/X.py -> X."""
    return path.relative_to(root).with_suffix("").parts[0]


def module_name(path, root=ROOT):
    return ".".join(("jaxgen", *path.relative_to(root).with_suffix("").parts))


def violations(root=ROOT):
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.parent == root and path.stem == "__init__":
            continue
        package = layer_of(path, root)
        module = module_name(path, root)
        for line, other in imported_packages(path.read_text(), module):
            where = f"{path.relative_to(root.parent)}:{line} imports jaxgen.{other}"
            if other not in LEVEL:
                found.append(f"{where}, a package missing from LAYERS")
            elif LEVEL[other] > LEVEL[package]:
                found.append(f"{where}, a layer above {package}")
    return found


def test_every_package_and_module_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    modules = {p.stem for p in ROOT.glob("*.py")} - {"__init__"}
    assert (packages | modules) - set(LEVEL) == set(), "place it in LAYERS (DESIGN.md)"


def test_setup_cfg_installs_every_package():
    """setup.cfg lists jaxgen's packages by hand (beside the experiments package): a new
    package missing there would be left out of an installed jaxgen."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT.parent / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {"jaxgen"} | {f"jaxgen.{p.parent.name}" for p in ROOT.glob("*/__init__.py")}
    assert listed == found | {"jaxgen_experiments"}


def test_no_file_is_loaded_by_path_and_no_experiment_imports_the_cli():
    """Experiments are leaves: jaxgen finds them through the entry-point registry
    (jaxgen.runs), never by loading a file; experiments use jaxgen.runs, not jaxgen.cli."""
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        for word in ("spec_from_file_location", "runpy", "exec_module", "SourceFileLoader"):
            assert word not in text, f"{path} loads code by path ({word})"
    for path in (ROOT.parent / "experiments").glob("*.py"):
        found = [p for _, p in imported_packages(path.read_text(), "experiments.x")]
        assert "cli" not in found, f"{path} imports jaxgen.cli"


def import_graph(root=ROOT):
    """{module: the modules of jaxgen it imports}, for every module of jaxgen."""
    graph = {}
    for path in root.rglob("*.py"):
        module = module_name(path, root).removesuffix(".__init__")
        edges = set()
        for node in ast.walk(parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                if node.module.startswith("jaxgen"):
                    edges.add(node.module)
                    edges |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("jaxgen")}
        graph[module] = edges
    return {m: {e for e in edges if e in graph and e != m} for m, edges in graph.items()}


for _path in [*ROOT.rglob("*.py"), *(ROOT.parent / "experiments").glob("*.py")]:
    parse(_path.read_text())


def test_no_import_cycles():
    """No chain of imports between modules leads from a module back to itself. A package's
    __init__ re-exporting its modules is not a cycle with them (parent -> child only)."""
    graph, done, path = import_graph(), set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path, module]))
        if module in done:
            return
        path.append(module)
        for other in sorted(graph[module]):
            if not module.startswith(other + "."):  # a module importing its own package
                visit(other)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


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
