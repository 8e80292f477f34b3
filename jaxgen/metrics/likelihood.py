"""Negative log-likelihood in bits per dimension, with the data-scaling correction.

Works on floats, numpy and jax arrays (per-example values in, same shape out).
"""

from __future__ import annotations

import math

# 8-bit pixel units per model unit for the usual data maps.
SCALE_8BIT = 1.0  # discrete model over {0, ..., 255} (e.g. a 256-way softmax)
SCALE_0_1 = 255.0  # x / 255
SCALE_MINUS1_1 = 127.5  # x / 127.5 - 1 (jaxgen's image convention)


def bits_per_dim(nll_nats, num_dims: int):
    """bits/dim = NLL / (D ln 2), NLL in nats of a D-dimensional example."""
    return nll_nats / (num_dims * math.log(2.0))


def nll_to_bits_per_dim(log_likelihood, num_dims: int, *, data_scale: float):
    """Bits/dim of 8-bit data from a model's log-likelihood in its own data space.

    A model of continuous y = (x - b) / data_scale, where x are (uniformly dequantized)
    8-bit values, has density p_x(x) = p_y(y) |dy/dx|^D = p_y(y) data_scale^{-D}, so the
    change of variables adds D log(data_scale) nats to the NLL:

        bits/dim = (-log p_y(y) + D log(data_scale)) / (D ln 2).

    E.g. data mapped from {0..255} to [-1, 1] via x / 127.5 - 1 adds D log(127.5)
    (``data_scale=SCALE_MINUS1_1``); to [0, 1] via x / 255 adds D log(255)
    (``SCALE_0_1``); a discrete model over {0..255} needs none (``SCALE_8BIT``). With
    uniform dequantization, E_u[-log p_x(x + u)] upper-bounds the discrete NLL, so the
    result is comparable to the bits/dim reported for 8-bit images (Theis et al. 2016).
    """
    if data_scale <= 0:
        raise ValueError(f"data_scale must be positive, got {data_scale}.")
    return bits_per_dim(-log_likelihood + num_dims * math.log(data_scale), num_dims)
