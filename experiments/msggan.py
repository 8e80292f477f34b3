"""MSG-GAN (Karnewar & Wang 2020), the light form of progressive growing: the DCGAN
generator also emits an image after every block (a 1x1 conv + tanh) and the discriminator
sees all of them, each concatenated to its features of the same size, while the real images
enter as an average-pooled pyramid. Gradients reach every generator scale at once from the
first step, with no growing schedule. The sample hook shows one row per scale; use
--config.sample.grid=samples for FID. The dcgan config and wiring otherwise (presets
included: --config.preset=gpu for Fashion-MNIST, scales 7, 14, 28)."""

from jaxgen import runs, train
from jaxgen.tasks import gan

PRESETS = gan.PRESETS
make_task = gan.make_task


def get_config(preset="cpu"):
    c = gan.base_config()
    c.model.multi_scale = True
    c.sample.grid = "multiscale"
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
