"""jaxgen.losses is pure JAX: importing it loads neither flax nor TensorFlow."""

import subprocess
import sys


def test_import_loads_no_flax_or_tensorflow():
    code = (
        "import sys, jaxgen.losses; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flax', 'tensorflow')); "
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
