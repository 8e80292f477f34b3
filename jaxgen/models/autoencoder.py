"""Convolutional autoencoder with a dense bottleneck, the linear autoencoder of the lectures
(which learns the PCA subspace), their (denoising) objective, and the comparison grids
(input / reconstruction rows) the autoencoder family's sample hooks show."""

import functools
import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxgen import losses
from jaxgen.losses.autoencoder import CorruptFn
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree
from jaxgen.models.vae import ConvDecoder, ConvEncoder


class ConvAutoencoder(nn.Module):
    """x -> code [B, bottleneck] -> x_recon: encoder (Conv 3x3 stride 2, ReLU) per width and a
    Dense to the bottleneck; decoder Dense, (x2 upsampling, ReLU) per width in reverse, a last
    x2 upsampling to the image channels (linear output, images in [-1, 1])."""

    image_shape: Sequence[int]
    bottleneck: int = 16
    widths: Sequence[int] = (32, 64)
    upsample: str = "transpose"  # or "resize" (nearest x2 + Conv 3x3)

    def setup(self):
        self.encoder = ConvEncoder(self.widths)
        self.to_code = nn.Dense(self.bottleneck)
        self.decoder = ConvDecoder(self.image_shape, self.widths, self.upsample)

    def encode(self, x: jax.Array) -> jax.Array:
        """x [B, H, W, C] -> code [B, bottleneck]."""
        return self.to_code(self.encoder(x))

    def decode(self, code: jax.Array) -> jax.Array:
        """code [B, bottleneck] -> x_recon [B, H, W, C]."""
        return self.decoder(code)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode(self.encode(x))


class LinearAutoencoder(nn.Module):
    """x -> z = W_e vec(x) + b_e [B, bottleneck] -> x_recon = W_d z + b_d, no activation.
    Trained on the MSE, W_d spans the principal subspace of the data: the top `bottleneck`
    eigenvectors of its covariance (Baldi & Hornik 1989), so it reconstructs as PCA does."""

    image_shape: Sequence[int]
    bottleneck: int = 32

    def setup(self):
        self.to_code = nn.Dense(self.bottleneck)
        self.from_code = nn.Dense(math.prod(self.image_shape))

    def encode(self, x: jax.Array) -> jax.Array:
        """x [B, H, W, C] -> code [B, bottleneck]."""
        return self.to_code(x.reshape(len(x), -1))

    def decode(self, code: jax.Array) -> jax.Array:
        """code [B, bottleneck] -> x_recon [B, H, W, C]."""
        return self.from_code(code).reshape(len(code), *self.image_shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode(self.encode(x))


def identity_corruption(x: jax.Array, key: jax.Array) -> jax.Array:
    """No corruption: the plain autoencoder."""
    del key
    return x


CORRUPTIONS = {
    "none": lambda noise_std, mask_prob: identity_corruption,
    "gaussian": lambda noise_std, mask_prob: functools.partial(
        losses.gaussian_corruption, sigma=noise_std
    ),
    "masking": lambda noise_std, mask_prob: functools.partial(
        losses.masking_corruption, drop_prob=mask_prob
    ),
}


def make_corruption(corruption: str, noise_std: float = 0.5, mask_prob: float = 0.5) -> CorruptFn:
    """(x, key) -> x_tilde: 'none'; 'gaussian' x + noise_std * eps (on the [-1, 1] scale);
    'masking' each pixel set to 0 (mid-grey) with probability mask_prob."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"Unknown corruption {corruption!r}; use one of {', '.join(CORRUPTIONS)}.")
    if noise_std < 0 or not 0 <= mask_prob < 1:
        raise ValueError(
            f"Need noise_std >= 0 and 0 <= mask_prob < 1, got {noise_std}, {mask_prob}."
        )
    return CORRUPTIONS[corruption](noise_std, mask_prob)


def objective(
    model: ConvAutoencoder | LinearAutoencoder,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    corrupt_fn: CorruptFn = identity_corruption,
) -> ObjectiveOutput:
    """Batch mean of 1/D ||g(f(x_tilde)) - x||^2, x_tilde = corrupt_fn(x, key): the autoencoder
    (identity corruption) or the denoising autoencoder (Vincent et al. 2008) objective."""
    del step
    x = batch["image"]
    mse = losses.denoising_loss(
        lambda x_tilde: model.apply({"params": params}, x_tilde), x, key, corrupt_fn
    )
    return jnp.mean(mse), ({"mse": jnp.mean(mse)}, model_state)


def reconstruct(
    model: ConvAutoencoder | LinearAutoencoder, params: PyTree, x: jax.Array
) -> jax.Array:
    """Reconstructions [B, H, W, C] of x, clipped to [-1, 1]."""
    return jnp.clip(model.apply({"params": params}, x), -1.0, 1.0)


def comparison_rows(groups: Sequence[jax.Array], ncol: int) -> jax.Array:
    """Interleaves image groups row by row: G arrays [M, H, W, C] (e.g. noisy, denoised and
    clean versions of the same M images) -> [G * M, H, W, C] that a grid of `ncol` columns
    shows as row 1 of every group, then row 2, ..."""
    m = len(groups[0])
    return jnp.concatenate([g[i : i + ncol] for i in range(0, m, ncol) for g in groups])


def comparison_sample_fn(
    reconstruct_fn: Callable[[PyTree, jax.Array], jax.Array],
    images: ArrayLike,
    num_images: int,
    corrupt_fn: CorruptFn | None = None,
) -> Callable[[PyTree, jax.Array], jax.Array]:
    """A jitted sample hook (params, key) -> comparison grid cells of the first test images:
    rows input / reconstruction, or noisy / denoised / clean when `corrupt_fn` is given."""
    groups = 2 if corrupt_fn is None else 3
    ncol = math.ceil(math.sqrt(num_images))  # the training loop's grid
    x = jnp.asarray(images[: num_images // groups])

    @jax.jit
    def sample(params, key):
        if corrupt_fn is None:
            return comparison_rows([x, reconstruct_fn(params, x)], ncol)
        x_tilde = corrupt_fn(x, key)
        denoised = reconstruct_fn(params, x_tilde)
        return comparison_rows([jnp.clip(x_tilde, -1, 1), denoised, x], ncol)

    return sample
