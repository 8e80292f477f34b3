"""Neural style transfer and texture synthesis (Gatys et al. 2015, 2016), pixels optimised.

The image's pixels are fitted with Adam to the Gram matrices of a style image's features
(and, for style transfer, to a content image's features at one layer; loss.tv_weight adds
total variation).

  --config.mode=texture  a new image with the statistics of data.style (no content term)
  --config.mode=style    data.content painted with data.style's statistics

Feature network (--config.features.net):
  random  the offline default: one layer of random filters of several sizes, ReLU, no
          pooling (Ustyuzhaninov et al. 2017); no weights file
  vgg19   Gatys et al.'s network; weights from a file you provide (converted from
          torchvision's vgg19: python -m jaxgen.models.convert_vgg19_to_npz vgg19.pth
          vgg19.npz), --config.features.weights=vgg19.npz; nothing is downloaded

Images are photographs shipped with scikit-image (jaxgen.data.photos): defaults
content=chelsea (a cat), style=immunohistochemistry (stained tissue).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  64x64, random filters 3..15 px, 300 steps (the default)
  cpu    128x128, random filters 3..23 px, 1,000 steps
  gpu    256x256, random filters 3..55 px (the paper's multi-scale set), 2,000 steps

Run (the same as `jaxgen train style_transfer`; the run directory defaults to
runs/style_transfer):
  python experiments/style_transfer.py [--workdir DIR] [--config.preset=P] [--config.mode=M]
No evaluation command: the sample grid (DIR/samples/step_N.png) shows the inputs, then the
result, and metrics.jsonl logs the losses.
"""

import functools

import jax
import ml_collections
import numpy as np
import optax

from jaxgen import data, runs, train
from jaxgen.data import photos
from jaxgen.models import style

# What the sample hook shows instead of samples of a model: `jaxgen eval` refuses the run.
SAMPLE_HOOK_SHOWS = "the inputs and the optimised image"
PRESETS = {
    "quick": {},
    "cpu": {
        "data.size": 128,
        "features.kernel_sizes": (3, 5, 7, 11, 15, 23),
        "train.steps": 1000,
        "train.log_every": 20,
        "train.sample_every": 250,
    },
    "gpu": {
        "data.size": 256,
        "features.kernel_sizes": (3, 5, 7, 11, 15, 23, 37, 55),
        "train.steps": 2000,
        "train.log_every": 20,
        "train.sample_every": 500,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.mode = "texture"
    c.data = {"content": "chelsea", "style": "immunohistochemistry", "size": 64}
    c.features = {
        "net": "random",
        "kernel_sizes": (3, 5, 7, 11, 15),  # random: filter sizes, `width` filters each
        "width": 128,
        "weights": "",  # vgg19: the .npz weights file
        "pool": "avg",  # vgg19: Gatys et al.'s average pooling, or max
        "style_layers": (),  # (): relu1_1..relu5_1 (vgg19) / every scale (random)
        "content_layer": "",  # "": relu4_2 (vgg19) / the smallest scale (random)
    }
    c.loss = {"style_weight": 1.0, "content_weight": 0.002, "tv_weight": 0.0}
    c.train = {
        "steps": 300,
        "learning_rate": 0.05,
        "start": "content",  # x_0 of style transfer: content or noise (textures: noise)
        "ema_decay": 0.0,  # the result is the current image
        "log_every": 10,
        "checkpoint_every": 1000,
        "sample_every": 100,
        "grad_accum_steps": 1,
        "precision": "fp32",
    }
    return train.with_preset(c, preset, PRESETS)


def make_task(c):
    if c.mode not in ("texture", "style"):
        raise ValueError(f"Unknown mode {c.mode!r}; use 'texture' or 'style'.")
    transfer = c.mode == "style"
    channels = 3 if transfer else None  # a texture keeps the exemplar's own channels
    style_image = photos.photo(c.data.style, c.data.size, channels)[None]  # [1, H, W, C]
    images = photos.photo(c.data.content, c.data.size, 3)[None] if transfer else style_image
    f = c.features
    fnet = style.feature_net(
        f.net,
        jax.random.fold_in(jax.random.PRNGKey(c.seed), 1),
        style_image.shape[-1],
        weights=f.weights,
        pool=f.pool,
        kernel_sizes=f.kernel_sizes,
        width=f.width,
        style_layers=f.style_layers,
        content_layer=f.content_layer,
    )
    shown = np.concatenate([images, style_image]) if transfer else images
    init = functools.partial(
        style.init,
        fnet,
        data.to_float(style_image),
        content=transfer,
        start=c.train.start if transfer else "noise",
    )
    objective = functools.partial(
        style.objective, fnet.net, content_layer=fnet.content_layer, **c.loss
    )
    return train.Task(
        init=init,
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(objective),
        sample=style.sample_hook(data.to_float(shown)),
        images=images,
    )


if __name__ == "__main__":
    runs.script_main()
