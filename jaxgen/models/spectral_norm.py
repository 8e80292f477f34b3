"""Spectral normalization (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks"): W_SN = W / sigma(W), sigma(W) the largest singular value, estimated
by power iteration with a persistent vector u. A flax wrapper around any layer whose weight
is a param named 'kernel' (Dense, Conv, ConvTranspose, ...)."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

COLLECTION = "spectral"  # the variables collection holding u and sigma (model state)


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """x / max(||x||_2, eps)."""
    return x / jnp.maximum(jnp.linalg.norm(x), eps)


def spectral_normalize(
    w: jax.Array, u: jax.Array, n_power_iterations: int = 1, eps: float = 1e-12
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(W / sigma, u', sigma) for a weight of any rank, read as a matrix [fan_in, out].

    Power iteration (Miyato et al. 2018, Algorithm 1), n times from u [out]:
        v <- W u / ||W u||,   u <- W^T v / ||W^T v||;
    then sigma = v^T W u with v = W u' / ||W u'|| (n = 0 gives sigma = ||W u||). u and v are
    treated as constants, so d sigma / d W = v u^T as in the paper. A conv kernel
    [kh, kw, C_in, C_out] is read as the matrix [kh * kw * C_in, C_out], as in the paper (a
    bound on, not the exact, operator norm of the convolution).
    """
    matrix = w.reshape(-1, w.shape[-1])  # [fan_in, out]
    u = jax.lax.stop_gradient(u)

    def power_iteration(_, u):
        v = l2_normalize(matrix @ u, eps)  # [fan_in]
        return l2_normalize(matrix.T @ v, eps)  # [out]

    u = jax.lax.fori_loop(0, n_power_iterations, power_iteration, u)
    v = jax.lax.stop_gradient(l2_normalize(matrix @ u, eps))
    u = jax.lax.stop_gradient(u)
    sigma = v @ matrix @ u
    return w / sigma, u, sigma


class SpectralNorm(nn.Module):
    """layer(x) computed with its 'kernel' replaced by kernel / sigma(kernel).

        SpectralNorm(nn.Conv(64, (4, 4), strides=2))(x, update_stats=train)

    u [out] and the last sigma live in the 'spectral' collection (model state): a training
    forward pass (`update_stats=True`, the collection mutable) runs `n_power_iterations`
    steps of power iteration from the stored u and stores the new u (one step per update
    suffices since W changes slowly, Miyato et al. 2018 Sec. 2.1); otherwise the stored u is
    used as is. Other params (the bias) are unchanged.
    """

    layer: nn.Module
    n_power_iterations: int = 1
    eps: float = 1e-12

    @nn.compact
    def __call__(self, *args: Any, update_stats: bool = False, **kwargs: Any) -> Any:
        def normalize(variables):
            params = dict(variables.get("params", {}))
            if "kernel" not in params:  # the wrapped layer's params are being created
                return variables
            kernel = params["kernel"]
            u = self.variable(
                COLLECTION,
                "u",
                lambda: l2_normalize(jax.random.normal(self.make_rng("params"), kernel.shape[-1:])),
            )
            sigma = self.variable(COLLECTION, "sigma", lambda: jnp.ones((), kernel.dtype))
            n = self.n_power_iterations if update_stats else 0
            params["kernel"], u_new, sigma_new = spectral_normalize(kernel, u.value, n, self.eps)
            if update_stats and not self.is_initializing():
                u.value, sigma.value = u_new, sigma_new
            return {**variables, "params": params}

        return nn.map_variables(
            lambda layer, *a, **kw: layer(*a, **kw),
            "params",
            trans_in_fn=normalize,
            init=self.is_initializing(),
        )(self.layer, *args, **kwargs)
