"""Benchmark: jaxgen's standard models vs PyTorch references (train and sampling throughput,
compile time, memory, MFU on GPU/TPU); a table on stdout and a JSON file. The same as
`jaxgen bench [--config.KEY=VALUE ...]`.

    python experiments/bench.py                                   # all models, batch 64 and 128
    python experiments/bench.py --config.models="('vae',)" --config.batch_sizes="(64,)"
    python experiments/bench.py --config.precision=bf16 --config.out=runs/bench_bf16.json
    python experiments/bench.py --config.models="('dcgan',)" --config.profile_steps=3  # per op

Every setting is in jaxgen.bench.default_config() (`jaxgen bench --help` lists them);
PyTorch comes with `pip install 'jaxgen[bench]'`.
"""

import sys

from jaxgen.bench import harness

if __name__ == "__main__":
    try:
        config = harness.configure(sys.argv[1:])
    except ValueError as e:
        print(f"jaxgen: error: {e}", file=sys.stderr)
        sys.exit(2)
    harness.run(config)
