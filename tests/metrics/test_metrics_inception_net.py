"""FID InceptionV3: architecture, preprocessing and the .npz weight loader."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jaxgen.metrics import InceptionV3, load_inception_variables, save_inception_variables
from jaxgen.metrics.convert_pt_inception_to_npz import convert_state_dict
from jaxgen.metrics.inception import (
    _avg_pool_3x3_same,
    _max_pool_3x3_same,
    resize_for_inception,
    variable_shapes,
)

# torchvision's Inception3 without the aux head (27,161,264 - 3,326,696 parameters) plus
# 8 more classes (2048 * 8 + 8): the parameter count of pytorch-fid's FID network.
FID_INCEPTION_NUM_PARAMS = 23_850_960


@pytest.fixture(scope="module")
def shapes():
    return variable_shapes()


def _random_variables(shapes, seed=0):
    """He-scaled conv/dense kernels, random BN affine and positive running variances."""
    rng = np.random.default_rng(seed)
    flat = {}
    for key, shape in shapes.items():
        if key.endswith("kernel"):
            fan_in = int(np.prod(shape[:-1]))
            flat[key] = rng.normal(scale=np.sqrt(2.0 / fan_in), size=shape)
        elif key.endswith(("var", "scale")):
            flat[key] = rng.uniform(0.5, 1.5, size=shape)
        else:
            flat[key] = rng.normal(scale=0.1, size=shape)
        flat[key] = flat[key].astype(np.float32)
    return traverse_util.unflatten_dict(flat, sep="/")


@pytest.fixture(scope="module")
def weights_file(shapes, tmp_path_factory):
    variables = _random_variables(shapes)
    path = tmp_path_factory.mktemp("inception") / "random_inception.npz"
    save_inception_variables(path, variables)
    return path, variables


def test_architecture_matches_pytorch_fid(shapes):
    num_params = sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("params/"))
    assert num_params == FID_INCEPTION_NUM_PARAMS
    assert len(shapes) == 94 * 5 + 2  # 94 conv+BN blocks (kernel, scale, bias, mean, var) + fc
    assert shapes["params/Conv2d_1a_3x3/conv/kernel"] == (3, 3, 3, 32)
    assert shapes["params/Mixed_6b/branch7x7_2/conv/kernel"] == (1, 7, 128, 128)
    assert shapes["params/Mixed_7c/branch_pool/conv/kernel"] == (1, 1, 2048, 192)
    assert shapes["batch_stats/Mixed_7c/branch3x3dbl_3b/bn/var"] == (384,)
    assert shapes["params/fc/kernel"] == (2048, 1008)


def test_output_shapes_for_any_input_size():
    images = jax.ShapeDtypeStruct((2, 28, 28, 1), jnp.float32)
    variables = jax.eval_shape(InceptionV3().init, jax.random.key(0), images)
    pool3, logits = jax.eval_shape(InceptionV3().apply, variables, images)
    assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)


def test_pooling_variants():
    # FID blocks A, C, E_1 average over non-padding pixels only; E_2 max-pools with -inf pad.
    ones = jnp.ones((1, 5, 5, 2))
    np.testing.assert_array_equal(_avg_pool_3x3_same(ones), ones)
    np.testing.assert_array_equal(_max_pool_3x3_same(-ones), -ones)


def test_resize_is_bilinear_half_pixel_without_antialias():
    # Halving with half-pixel centres samples between source pixels 2j and 2j+1: their mean.
    columns = np.arange(598, dtype=np.float32) ** 2
    image = np.broadcast_to(columns[None, :, None], (598, 598, 3))[None]
    resized = resize_for_inception(jnp.asarray(image))
    assert resized.shape == (1, 299, 299, 3)
    np.testing.assert_allclose(resized[0, 5, :, 1], (columns[0::2] + columns[1::2]) / 2, rtol=1e-5)
    grey = resize_for_inception(jnp.asarray(image[..., :1]))
    np.testing.assert_array_equal(grey, resized)


def test_weights_round_trip_and_forward(weights_file, shapes):
    path, variables = weights_file
    loaded = load_inception_variables(path)
    abstract = jax.eval_shape(InceptionV3().init, jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    assert jax.tree.structure(loaded) == jax.tree.structure(abstract)
    jax.tree.map(np.testing.assert_array_equal, loaded, variables)

    images = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, size=(2, 32, 32, 3)))
    pool3, logits = jax.jit(InceptionV3().apply)(loaded, images)
    assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.all(np.isfinite(logits)) and np.all(pool3 >= 0) and np.any(pool3 > 0)
    assert not np.allclose(pool3[0], pool3[1])


def _rewrite(path, tmp_path, edit):
    with np.load(path) as npz:
        arrays = dict(npz)
    edit(arrays)
    out = tmp_path / "edited.npz"
    np.savez(out, **arrays)
    return out


def test_missing_key_error(weights_file, tmp_path):
    key = "params/Mixed_5b/branch_pool/conv/kernel"
    out = _rewrite(weights_file[0], tmp_path, lambda arrays: arrays.pop(key))
    with pytest.raises(ValueError, match=f"1 missing: {key}"):
        load_inception_variables(out)


def test_extra_and_mismatched_keys_error(weights_file, tmp_path):
    def edit(arrays):
        arrays["params/AuxLogits/fc/kernel"] = np.zeros(3)
        arrays["params/fc/kernel"] = np.zeros((1008, 2048), np.float32)

    with pytest.raises(ValueError) as error:
        load_inception_variables(_rewrite(weights_file[0], tmp_path, edit))
    message = str(error.value)
    assert "1 unexpected: params/AuxLogits/fc/kernel" in message
    assert "params/fc/kernel (1008, 2048) != (2048, 1008)" in message
    assert "convert_pt_inception_to_npz" in message


def test_missing_file_error(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_inception_variables(tmp_path / "nope.npz")
    assert "nope.npz" in str(error.value)
    assert "metrics.inception_weights" in str(error.value)
    assert "--inception-weights" in str(error.value)


def test_converter_maps_every_pytorch_fid_tensor(weights_file, tmp_path):
    _, variables = weights_file
    flat = traverse_util.flatten_dict(variables, sep="/")
    torch_leaf = {
        "kernel": "weight",
        "scale": "weight",
        "bias": "bias",
        "mean": "running_mean",
        "var": "running_var",
    }
    state_dict = {"Conv2d_1a_3x3.bn.num_batches_tracked": np.array(0)}
    for key, value in flat.items():
        _, *modules, leaf = key.split("/")
        if value.ndim == 4:  # HWIO -> torch OIHW
            value = value.transpose(3, 2, 0, 1)
        elif value.ndim == 2:  # [in, out] -> torch [out, in]
            value = value.T
        state_dict[".".join([*modules, torch_leaf[leaf]])] = value
    assert state_dict["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)

    converted = convert_state_dict(state_dict)
    assert converted.keys() == flat.keys()
    for key, value in converted.items():
        np.testing.assert_array_equal(value, flat[key])
    np.savez(tmp_path / "converted.npz", **converted)
    load_inception_variables(tmp_path / "converted.npz")
