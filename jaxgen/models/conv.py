"""Transposed convolution whose weight gradient is fast on the CPU backend.

XLA:CPU computes the gradient of a transposed convolution (a convolution with input
dilation, ``lax.conv_transpose``) with respect to its kernel as a convolution with kernel
dilation and batch/feature roles swapped, a form its fast convolution kernels do not cover:
it runs about 10 to 15 times slower than the forward pass (570 ms against 24 ms for the
4x4 stride-2 128 -> 64 layer of the DCGAN generator on a batch of 64 7x7 maps, 2 CPU
cores; PyTorch: 36 ms). The same gradient is the kernel gradient of the strided
convolution that ``conv_transpose`` is the adjoint of, which XLA:CPU computes fast (about
50 ms above). With y = conv_transpose(x, W) (stride s, explicit padding (lo, hi) per
spatial axis, kernel size K), per spatial axis and for every kernel tap k,

    dL/dW[k, i, o] = sum_{b, q} x[b, q, i] g[b, s q + lo - k, o],   g = dL/dy,

which is dL/dV[K - 1 - k, o, i] for the strided convolution z = conv(g', V) with window K,
stride s, g' = g padded by K - 1 - lo before (and as needed after), and cotangent x.

``conv_transpose`` computes exactly ``lax.conv_transpose``'s forward pass (the same XLA op)
and, on the CPU backend only, this kernel gradient (a custom VJP); other backends
(GPU/TPU) use the standard autodiff of ``lax.conv_transpose``. The input gradient is the
standard one everywhere. Being a custom VJP on CPU, it supports reverse-mode autodiff
(``grad``, ``vjp``, also nested) but not forward mode (``jvp``, ``jacfwd``) there.

``ConvTranspose`` is a drop-in replacement of ``flax.linen.ConvTranspose`` (same fields,
same parameters 'kernel' [*K, I, O] and 'bias' [O], same initializers, so checkpoints are
interchangeable) that uses ``conv_transpose``; the configurations it does not cover
(circular padding, kernel dilation, masks, transpose_kernel=True, several batch axes)
run flax's own layer.
"""

import contextlib
from collections.abc import Iterator, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.linear import canonicalize_padding
from jax import lax

_SPATIAL = {1: "H", 2: "HW", 3: "DHW"}


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution along one axis (Dumoulin & Visin 2016, relation 6):
    o = floor((n + 2p - k) / s) + 1 for input n, kernel k, stride s, zero padding p."""
    if kernel > n + 2 * padding:
        raise ValueError(f"conv_output_size: kernel {kernel} > padded input {n + 2 * padding}.")
    return (n + 2 * padding - kernel) // stride + 1


def conv_transpose_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """Output length of the transposed convolution of ``conv_output_size``'s (its adjoint):
    o = (n - 1) s - 2p + k + a (Dumoulin & Visin 2016, relation 14), a = output_padding in
    0..s-1 choosing among the input sizes the strided convolution maps to n."""
    if not 0 <= output_padding < max(stride, 1):
        raise ValueError(f"output_padding must be in 0..stride-1, got {output_padding}.")
    return (n - 1) * stride - 2 * padding + kernel + output_padding


def _dimension_numbers(num_spatial):
    s = _SPATIAL[num_spatial]
    return (f"N{s}C", f"{s}IO", f"N{s}C")


def transpose_padding(kernel_size: int, stride: int, padding: str) -> tuple[int, int]:
    """Explicit (lo, hi) padding of the input-dilated convolution that ``lax.conv_transpose``
    runs for `padding` 'SAME' or 'VALID' on one spatial axis (its documented convention:
    'SAME' gives output size = input size * stride)."""
    if padding == "SAME":
        pad_len = kernel_size + stride - 2
        pad_lo = kernel_size - 1 if stride > kernel_size - 1 else -(-pad_len // 2)
    elif padding == "VALID":
        pad_len = kernel_size + stride - 2 + max(kernel_size - stride, 0)
        pad_lo = kernel_size - 1
    else:
        raise ValueError(f"padding must be 'SAME', 'VALID' or (lo, hi) pairs, got {padding!r}.")
    return pad_lo, pad_len - pad_lo


def _explicit_padding(padding, kernel_shape, strides):
    if isinstance(padding, str):
        return tuple(
            transpose_padding(k, s, padding) for k, s in zip(kernel_shape, strides, strict=True)
        )
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def _forward(x, kernel, strides, padding, precision):
    """lax.conv_transpose's forward op: a stride-1 convolution of x dilated by `strides`."""
    return lax.conv_general_dilated(
        x,
        kernel,
        (1,) * len(strides),
        padding,
        lhs_dilation=strides,
        dimension_numbers=_dimension_numbers(len(strides)),
        precision=precision,
    )


def kernel_gradient(
    x: jax.Array,
    g: jax.Array,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """dL/dW [*K, I, O] of y = conv_transpose(x, W) given x [B, *S, I] and g = dL/dy
    [B, *S', O], as the kernel gradient of the strided convolution conv_transpose is the
    adjoint of (module docstring)."""
    pads = [(0, 0, 0)]
    for d, (k, s, (lo, _)) in enumerate(zip(kernel_shape, strides, padding, strict=True)):
        n, m = x.shape[1 + d], g.shape[1 + d]
        before = k - 1 - lo
        after = s * (n - 1) + k - before - m  # exactly n = x's size outputs of the strided conv
        pads.append((before, after, 0))
    g_padded = lax.pad(g, jnp.zeros((), g.dtype), [*pads, (0, 0, 0)])

    def strided(v):  # [*K, O, I] -> [B, *S, I]
        return lax.conv_general_dilated(
            g_padded,
            v,
            strides,
            "VALID",
            dimension_numbers=_dimension_numbers(len(strides)),
            precision=precision,
        )

    v = jnp.zeros((*kernel_shape, g.shape[-1], x.shape[-1]), jnp.result_type(x, g))
    dv = jax.vjp(strided, v)[1](x.astype(v.dtype))[0]
    spatial = tuple(range(len(kernel_shape)))
    n = len(kernel_shape)
    return jnp.flip(dv, spatial).transpose(*spatial, n + 1, n)


def _cpu_conv_transpose(x, kernel, strides, padding, precision):
    @jax.custom_vjp
    def conv(x, kernel):
        return _forward(x, kernel, strides, padding, precision)

    def fwd(x, kernel):
        return conv(x, kernel), (x, kernel)

    def bwd(residuals, g):
        x, kernel = residuals
        dx = jax.vjp(lambda x: _forward(x, kernel, strides, padding, precision), x)[1](g)[0]
        dk = kernel_gradient(x, g, kernel.shape[:-2], strides, padding, precision)
        return dx, dk.astype(kernel.dtype)

    conv.defvjp(fwd, bwd)
    return conv(x, kernel)


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]] = "SAME",
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """``lax.conv_transpose(x, kernel, strides, padding)`` (channels last, kernel [*K, I, O],
    transpose_kernel=False, no kernel dilation) with a fast kernel gradient on CPU.

    Args:
      x: [B, *S, I] input, 1 to 3 spatial axes.
      kernel: [*K, I, O].
      strides: one int per spatial axis (the input dilation).
      padding: 'SAME', 'VALID' or one (lo, hi) pair per spatial axis, as in
        ``lax.conv_transpose``.
      precision: passed to the convolutions.

    Returns:
      [B, *S', O], bitwise the value of ``lax.conv_transpose``.
    """
    num_spatial = x.ndim - 2
    if num_spatial not in _SPATIAL or kernel.ndim != num_spatial + 2:
        raise ValueError(
            f"conv_transpose: x [B, *S, I] with 1 to 3 spatial axes and kernel [*K, I, O] "
            f"expected; got x {x.shape}, kernel {kernel.shape}."
        )
    strides = tuple(int(s) for s in strides)
    padding = _explicit_padding(padding, kernel.shape[:-2], strides)
    return lax.platform_dependent(
        x,
        kernel,
        cpu=lambda x, k: _cpu_conv_transpose(x, k, strides, padding, precision),
        default=lambda x, k: _forward(x, k, strides, padding, precision),
    )


def _strides(module, num_spatial):
    s = module.strides if module.strides is not None else 1
    return (s,) * num_spatial if isinstance(s, int) else tuple(s)


def _kernel_size(module):
    k = module.kernel_size
    return (k,) if isinstance(k, int) else tuple(k)


def supported(module: nn.ConvTranspose, inputs: jax.Array) -> bool:
    """Whether ``conv_transpose`` covers this flax ConvTranspose layer on these inputs: no
    circular padding, kernel dilation, mask, transpose_kernel or preferred_element_type, and
    one batch axis."""
    dilation = module.kernel_dilation
    dilation = () if dilation is None else (dilation,) if isinstance(dilation, int) else dilation
    return (
        module.padding != "CIRCULAR"
        and all(d == 1 for d in dilation)
        and module.mask is None
        and not module.transpose_kernel
        and module.preferred_element_type is None
        and inputs.ndim == len(_kernel_size(module)) + 2
    )


def apply_layer(module: nn.ConvTranspose, inputs: jax.Array, fast: bool = True) -> jax.Array:
    """The body of a flax ConvTranspose layer `module` (bound; `supported`): its 'kernel' and
    'bias' parameters (created as flax creates them) and its output, by ``conv_transpose``
    (fast=True) or ``lax.conv_transpose``."""
    kernel_size = _kernel_size(module)
    strides = _strides(module, len(kernel_size))
    kernel_shape = (*kernel_size, jnp.shape(inputs)[-1], module.features)
    kernel = module.param("kernel", module.kernel_init, kernel_shape, module.param_dtype)
    bias = (
        module.param("bias", module.bias_init, (module.features,), module.param_dtype)
        if module.use_bias
        else None
    )
    inputs, kernel, bias = module.promote_dtype(inputs, kernel, bias, dtype=module.dtype)
    padding = module.padding
    if not isinstance(padding, str):
        padding = canonicalize_padding(padding, len(kernel_size))
    if fast:
        y = conv_transpose(inputs, kernel, strides, padding, module.precision)
    else:
        y = lax.conv_transpose(inputs, kernel, strides, padding, precision=module.precision)
    if bias is not None:
        y += jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
    return y


class ConvTranspose(nn.ConvTranspose):
    """``flax.linen.ConvTranspose`` with ``conv_transpose``'s fast kernel gradient on CPU
    (same fields and parameters; configurations `supported` does not cover run flax's
    layer)."""

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        if supported(self, inputs):
            return apply_layer(self, inputs)
        return super().__call__(inputs)


@contextlib.contextmanager
def conv_transpose_impl(impl: str) -> Iterator[None]:
    """Within this context every ConvTranspose layer (flax's or this module's) that
    `supported` covers runs with `impl`: "jaxgen" (``conv_transpose``, fast kernel gradient
    on CPU) or "xla" (``lax.conv_transpose`` and its standard gradient). Active while a
    function is traced (e.g. around ``jit(f).lower(...)``): for comparing the two without
    editing a model."""
    if impl not in ("jaxgen", "xla"):
        raise ValueError(f"Unknown conv_transpose impl {impl!r}; use 'jaxgen' or 'xla'.")

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if (
            context.method_name == "__call__"
            and isinstance(module, nn.ConvTranspose)
            and len(args) == 1
            and not kwargs
            and supported(module, args[0])
        ):
            return apply_layer(module, args[0], fast=impl == "jaxgen")
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        yield
