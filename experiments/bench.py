"""Benchmark: jaxgen's standard models vs PyTorch references (train and sampling throughput,
compile time, memory, MFU on GPU/TPU); a table on stdout and a JSON file.

    python experiments/bench.py                                   # all models, batch 64 and 128
    python experiments/bench.py --config.models="('vae',)" --config.batch_sizes="(64,)"
    python experiments/bench.py --config.precision=bf16 --config.out=runs/bench_bf16.json
    python experiments/bench.py --config.models="('dcgan',)" --config.profile_steps=3  # per op

Every setting is in jaxgen.bench.default_config(); PyTorch comes with `pip install
'jaxgen[bench]'`.
"""

import os
import sys

from jaxgen import bench
from jaxgen.bench.profile import TRACEME_FLAG


def get_config():
    return bench.default_config()


def main(argv):
    from jaxgen.train import apply_overrides

    config, rest = apply_overrides(get_config(), argv)
    if rest:
        raise SystemExit(f"bench: unexpected arguments {rest}; use --config.KEY=VALUE.")
    if config.profile_steps > 0:  # per-op trace events on CPU; read when the backend starts
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TRACEME_FLAG}".strip()
    bench.run(config)


if __name__ == "__main__":
    main(sys.argv[1:])
