"""Benchmark harness: jaxgen's standard models (conv VAE, DCGAN, DDPM U-Net) against
PyTorch references of the same architectures, measured in one process.

    from jaxgen import bench
    cfg = bench.default_config()
    cfg.models, cfg.batch_sizes = ("vae",), (64,)
    bench.run(cfg)  # prints the tables, writes cfg.out (JSON)

PyTorch is the optional extra ``bench`` (``pip install 'jaxgen[bench]'``); without it only
jaxgen is measured. ``jaxgen.bench.torch_ref`` holds the references.
"""

from jaxgen.bench.cases import CASES, Case, JaxModel, get_case
from jaxgen.bench.harness import default_config, run, torch_available

__all__ = ["CASES", "Case", "JaxModel", "default_config", "get_case", "run", "torch_available"]
