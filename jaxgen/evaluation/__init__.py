"""Evaluation of trained models: the layer above ``jaxgen.train`` and ``jaxgen.metrics`` and
below ``jaxgen.cli`` and the experiments. It turns a model family's functions and a run's
parameters into test-set numbers, pictures and eval.json (``latent``: autoencoders and VAEs,
``likelihood``: PixelCNN and flows, ``diffusion``: DDPM, DDIM, guidance and latent diffusion,
``dip``: deep image prior, ``gan``: conditional and image-to-image GANs, ``grids``: the
GANs' demo grids and sample hooks), with the helpers those share in ``common``. Nothing
below it imports it: the models stay flax modules and pure functions, and an experiment
hands training its sample hook.
"""
