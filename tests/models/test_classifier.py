"""The feature classifier's model and training objective: parameter count, dropout only in
training, and the augmentation (flip, shift) against a numpy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models.classifier import BACKGROUND, ConvClassifier, augment, objective

RNG = np.random.default_rng(0)
# Distinct values, so a flipped or shifted image cannot equal another candidate by chance.
IMAGES = jnp.asarray(RNG.permutation(64 * 8 * 8).reshape(64, 8, 8, 1) / 4096.0, jnp.float32)
MODEL = ConvClassifier(widths=(4, 8), feature_dim=6, num_groups=2, convs_per_block=2)


def shifted(image, dy, dx):
    """numpy reference: x'[i, j] = x[i - dy, j - dx], BACKGROUND outside the image."""
    h, w, _ = image.shape
    out = np.full_like(image, BACKGROUND)
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def candidates(image, flip, max_shift):
    """Every image `augment` may produce from `image`, with its (flipped, dy, dx)."""
    flips = (False, True) if flip else (False,)
    shifts = range(-max_shift, max_shift + 1)
    return {
        (f, dy, dx): shifted(image[:, ::-1] if f else image, dy, dx)
        for f in flips
        for dy in shifts
        for dx in shifts
    }


def which_candidate(out, image, flip, max_shift):
    matches = [k for k, c in candidates(image, flip, max_shift).items() if np.array_equal(c, out)]
    assert len(matches) == 1, "the output is not exactly one flip/shift of its input"
    return matches[0]


def test_parameter_count_with_two_convs_per_block():
    params = jax.eval_shape(MODEL.init, jax.random.key(0), IMAGES[:2])["params"]
    # Conv 1->4 (40), GN (8), Conv 4->4 (148), GN (8) | Conv 4->8 (296), GN (16),
    # Conv 8->8 (584), GN (16) | Dense 2*2*8->6 (198), Dense 6->10 (70).
    assert sum(np.size(p) for p in jax.tree.leaves(params)) == 1_384


def test_dropout_only_in_training():
    model = ConvClassifier(widths=(4,), feature_dim=6, num_groups=2, dropout_rate=0.5)
    params = model.init(jax.random.key(0), IMAGES[:4])["params"]
    apply = lambda key, **kw: model.apply({"params": params}, IMAGES[:4], **kw, rngs=key)
    eval_features, _ = apply(None)
    np.testing.assert_array_equal(eval_features, apply({"dropout": jax.random.key(1)})[0])
    train_a, _ = apply({"dropout": jax.random.key(1)}, train=True)
    train_b, _ = apply({"dropout": jax.random.key(2)}, train=True)
    assert not np.allclose(train_a, eval_features) and not np.allclose(train_a, train_b)


@pytest.mark.parametrize(("flip", "max_shift"), [(True, 0), (False, 2), (True, 1)])
def test_augment_is_a_flip_and_shift_of_each_image(flip, max_shift):
    key = jax.random.key(3)
    out = np.asarray(jax.jit(augment, static_argnames=("flip", "max_shift"))(
        IMAGES, key, flip=flip, max_shift=max_shift
    ))  # fmt: skip
    assert out.shape == IMAGES.shape and out.dtype == IMAGES.dtype
    images = np.asarray(IMAGES)
    for o, x in zip(out, images, strict=True):  # values: the image's own, plus the background
        assert set(np.unique(o)) <= set(np.unique(x)) | {np.float32(BACKGROUND)}
    chosen = [which_candidate(o, x, flip, max_shift) for o, x in zip(out, images, strict=True)]
    flipped = np.mean([f for f, _, _ in chosen])
    assert 0.25 < flipped < 0.75 if flip else flipped == 0  # p = 1/2 over 64 images
    num_shifts = len({(dy, dx) for _, dy, dx in chosen})
    assert num_shifts > (2 * max_shift + 1) ** 2 // 2 if max_shift else num_shifts == 1
    np.testing.assert_array_equal(out, augment(IMAGES, key, flip=flip, max_shift=max_shift))
    other = augment(IMAGES, jax.random.key(4), flip=flip, max_shift=max_shift)
    assert not np.array_equal(out, other)


def test_augment_rejects_shifts_outside_the_image():
    for max_shift in (-1, 8):
        with pytest.raises(ValueError, match=r"max_shift must be in \[0, 8\)"):
            augment(IMAGES, jax.random.key(0), max_shift=max_shift)


def test_objective_trains_on_augmented_images():
    params = MODEL.init(jax.random.key(0), IMAGES[:2])["params"]
    batch = {"image": IMAGES[:8], "label": jnp.arange(8) % 10}
    loss, (metrics, _) = objective(
        MODEL, params, {}, batch, jax.random.key(1), 0, flip=True, max_shift=1
    )
    _, logits = MODEL.apply({"params": params}, IMAGES[:8])
    assert np.isfinite(loss) and 0 <= metrics["accuracy"] <= 1
    # Without augmentation or dropout, it is the plain cross-entropy of the logits.
    plain, _ = objective(MODEL, params, {}, batch, jax.random.key(1), 0)
    want = -np.mean(jax.nn.log_softmax(logits)[np.arange(8), batch["label"]])
    np.testing.assert_allclose(plain, want, rtol=1e-5)
    assert abs(loss - plain) > 1e-4  # the augmented batch is another batch
