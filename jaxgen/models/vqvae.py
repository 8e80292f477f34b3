"""VQ-VAE (van den Oord et al. 2017): a conv encoder to a spatial map of code vectors, nearest-
codeword quantization with the straight-through gradient, a conv decoder, and the codebook
learned either by gradients (codebook loss) or by exponential moving averages (EMA, held in
`model_state`, updated by the objective and never by the optimizer)."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgen import losses
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree
from jaxgen.models.vae import ConvEncoder, SpatialConvDecoder, check_divisible

EMA_COLLECTION = "vq_ema"  # variables of the EMA codebook: codebook, cluster_size, embed_sum


class VQVAE(nn.Module):
    """x [B, H, W, C] -> z_e [B, H/2^L, W/2^L, code_dim] -> z_q -> x_recon [B, H, W, C]
    (L = len(widths)); `num_codes` codewords of size `code_dim`. With `ema`, the codebook is
    the variable collection 'vq_ema' (an ``losses.EMACodebookState`` as a dict), else the
    parameter 'codebook'."""

    image_shape: Sequence[int]
    widths: Sequence[int] = (32, 64)
    num_codes: int = 64
    code_dim: int = 16
    ema: bool = False
    upsample: str = "transpose"

    def setup(self):
        check_divisible(self.image_shape, self.widths)
        self.encoder = ConvEncoder(self.widths, flatten=False)
        self.to_code = nn.Conv(self.code_dim, (1, 1))
        self.decoder = SpatialConvDecoder(self.image_shape, self.widths, self.upsample)
        shape = (self.num_codes, self.code_dim)
        # Small codewords inside the cloud of initial z_e (scale 1 leaves most codes dead).
        init = nn.initializers.normal(0.1)
        if self.ema:
            codebook = self.variable(
                EMA_COLLECTION, "codebook", lambda: init(self.make_rng("params"), shape)
            )
            self.variable(EMA_COLLECTION, "cluster_size", jnp.ones, shape[:1])
            self.variable(EMA_COLLECTION, "embed_sum", lambda: jnp.copy(codebook.value))
            self.codebook = codebook.value
        else:
            self.codebook = self.param("codebook", init, shape)

    def encode(self, x: jax.Array) -> jax.Array:
        """x [B, H, W, C] -> z_e [B, h, w, code_dim]."""
        return self.to_code(self.encoder(x))

    def quantize(self, z_e: jax.Array) -> losses.Quantized:
        """``losses.Quantized(z_q, codewords, indices)`` of z_e against the codebook."""
        return losses.vector_quantize(z_e, self.codebook)

    def decode(self, z_q: jax.Array) -> jax.Array:
        """z_q [B, h, w, code_dim] -> x_recon [B, H, W, C] (linear output)."""
        return self.decoder(z_q)

    def decode_indices(self, indices: jax.Array) -> jax.Array:
        """Codes [B, h, w] int -> x_recon [B, H, W, C]."""
        return self.decode(self.codebook[indices])

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, losses.Quantized]:
        """(x_recon, z_e, Quantized)."""
        z_e = self.encode(x)
        q = self.quantize(z_e)
        return self.decode(q.z_q), z_e, q


def init(model: VQVAE, key: jax.Array, x: jax.Array) -> tuple[PyTree, PyTree]:
    """(params, model_state): model_state holds the EMA codebook ({} without `ema`)."""
    variables = model.init(key, x)
    return variables["params"], {k: v for k, v in variables.items() if k != "params"}


def global_perplexity(
    indices: jax.Array, num_codes: int, axis_name: str | None = None
) -> jax.Array:
    """Codebook perplexity of the code usage over the global batch (all devices of
    `axis_name`, inside shard_map), not the mean of per-device perplexities."""
    if axis_name is not None:
        indices = lax.all_gather(indices, axis_name)
    return losses.codebook_perplexity(indices, num_codes)


def objective(
    model: VQVAE,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    beta: float = 0.25,
    ema_decay: float = 0.99,
    axis_name: str | None = "data",
) -> ObjectiveOutput:
    """Batch mean of ||x - g(z_q)||^2 / D + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2
    (van den Oord et al. 2017, eq. 3, with MSE as the reconstruction term). With the EMA
    codebook the codebook term is dropped and the returned model_state holds the codebook
    after ``losses.ema_codebook_update`` (counts summed over `axis_name`), so every device
    applies the same update. Logs the global codebook perplexity."""
    del key, step
    x = batch["image"]
    x_recon, z_e, q = model.apply({"params": params, **model_state}, x)
    mse = losses.reconstruction_mse(x, x_recon)  # [B]
    vq, terms = losses.vq_loss(z_e, q.codewords, beta)  # [B]
    if model.ema:
        vq = beta * terms["commitment"]
        ema = losses.EMACodebookState(**model_state[EMA_COLLECTION])
        ema = losses.ema_codebook_update(ema, z_e, q.indices, ema_decay, axis_name=axis_name)
        model_state = {**model_state, EMA_COLLECTION: ema._asdict()}
    metrics = {
        "mse": jnp.mean(mse),
        "codebook": jnp.mean(terms["codebook"]),
        "commitment": jnp.mean(terms["commitment"]),
        "perplexity": global_perplexity(q.indices, model.num_codes, axis_name),
    }
    return jnp.mean(mse + vq), (metrics, model_state)


def reconstruct(model: VQVAE, params: PyTree, model_state: PyTree, x: jax.Array) -> jax.Array:
    """Reconstructions [B, H, W, C] of x through the quantized code, clipped to [-1, 1]."""
    return jnp.clip(model.apply({"params": params, **model_state}, x)[0], -1.0, 1.0)


def encode_indices(model: VQVAE, params: PyTree, model_state: PyTree, x: jax.Array) -> jax.Array:
    """Codes [B, h, w] int32 of images x."""
    variables = {"params": params, **model_state}
    z_e = model.apply(variables, x, method=VQVAE.encode)
    return model.apply(variables, z_e, method=VQVAE.quantize).indices


def decode_indices(
    model: VQVAE, params: PyTree, model_state: PyTree, indices: jax.Array
) -> jax.Array:
    """Images [B, H, W, C] in [-1, 1] (clipped) of codes [B, h, w] int."""
    variables = {"params": params, **model_state}
    return jnp.clip(model.apply(variables, indices, method=VQVAE.decode_indices), -1.0, 1.0)
