"""Style transfer and texture synthesis: VGG-19 (architecture, the .npz weight loader and its
errors, the torchvision converter, the first layer against a numpy reference), the random
multi-scale features, the style objective, and texture synthesis through the fit loop.
The Gram matrix, style, content and TV losses are tested in tests/losses/test_style.py."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jaxgen import data, train
from jaxgen.cli import main
from jaxgen.models import style
from jaxgen.models.convert_vgg19_to_npz import convert_state_dict
from jaxgen.runs import configure, load_experiment

from .family_helpers import fast_cpu_random  # noqa: F401  (an autouse fixture)

KEY = jax.random.PRNGKey(0)
# VGG-19's 16 conv layers: 20,024,384 parameters (the network's 143,667,240 less the
# 123,642,856 of its three fully connected layers).
VGG19_CONV_PARAMS = 20_024_384


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A VGG-19 weights file of random (He-scaled) weights in the supported format."""
    rng = np.random.default_rng(0)
    flat = {
        key: (
            rng.normal(scale=np.sqrt(2.0 / np.prod(shape[:-1])), size=shape)
            if key.endswith("kernel")
            else rng.normal(scale=0.1, size=shape)
        ).astype(np.float32)
        for key, shape in style.vgg19_variable_shapes().items()
    }
    path = tmp_path_factory.mktemp("vgg") / "random_vgg19.npz"
    style.save_vgg19_variables(path, traverse_util.unflatten_dict(flat, sep="/"))
    return path, flat


def test_vgg19_architecture():
    shapes = style.vgg19_variable_shapes()
    assert len(shapes) == 32  # kernel + bias of 16 convs
    assert sum(int(np.prod(s)) for s in shapes.values()) == VGG19_CONV_PARAMS
    assert shapes["params/conv1_1/kernel"] == (3, 3, 3, 64)
    assert shapes["params/conv3_4/kernel"] == (3, 3, 256, 256)
    assert shapes["params/conv5_4/bias"] == (512,)


def test_vgg19_loader_maps_every_parameter(weights_file):
    path, flat = weights_file
    full = style.load_vgg19_variables(path, layers=("relu5_4",))
    loaded = traverse_util.flatten_dict(full, sep="/")
    assert loaded.keys() == flat.keys()
    for key, value in loaded.items():
        np.testing.assert_array_equal(value, flat[key])
    # Gatys et al.'s layers stop at relu5_1: the loader keeps the 13 convs they use.
    trimmed = style.load_vgg19_variables(path)
    assert sorted(trimmed["params"]) == sorted(style.VGG19_CONVS[:13])


def test_vgg19_first_layer_against_numpy(weights_file):
    path, flat = weights_file
    net = style.VGG19(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), pool="avg")
    variables = style.load_vgg19_variables(path, net.layers)
    images = np.random.default_rng(1).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    features = jax.jit(net.apply)(variables, images)
    assert {k: v.shape for k, v in features.items()} == {
        "relu1_1": (2, 32, 32, 64),
        "relu2_1": (2, 16, 16, 128),
        "relu3_1": (2, 8, 8, 256),
        "relu4_1": (2, 4, 4, 512),
        "relu5_1": (2, 2, 2, 512),
    }
    # relu1_1 at pixel (5, 7) of image 1: ImageNet-normalised RGB, a 3x3 HWIO kernel.
    x = ((images[1] + 1) / 2 - np.array(style.IMAGENET_MEAN)) / np.array(style.IMAGENET_STD)
    patch = x[4:7, 6:9]  # [3, 3, 3]
    kernel, bias = flat["params/conv1_1/kernel"], flat["params/conv1_1/bias"]
    expected = np.maximum(np.einsum("hwi,hwio->o", patch, kernel) + bias, 0)
    np.testing.assert_allclose(features["relu1_1"][1, 5, 7], expected, rtol=1e-4, atol=1e-4)
    # Grey images are repeated over RGB.
    grey = jax.jit(net.apply)(variables, images[..., :1])
    rgb = jax.jit(net.apply)(variables, np.repeat(images[..., :1], 3, axis=-1))
    np.testing.assert_allclose(grey["relu3_1"], rgb["relu3_1"], rtol=1e-5, atol=1e-5)


def _rewrite(path, tmp_path, edit):
    with np.load(path) as npz:
        arrays = dict(npz)
    edit(arrays)
    np.savez(tmp_path / "edited.npz", **arrays)
    return tmp_path / "edited.npz"


def test_vgg19_loader_errors(weights_file, tmp_path):
    path, _ = weights_file
    with pytest.raises(FileNotFoundError) as error:
        style.load_vgg19_variables(tmp_path / "nope.npz")
    for part in ("nope.npz", "--config.features.weights", "convert_vgg19_to_npz"):
        assert part in str(error.value)
    with pytest.raises(ValueError, match="needs a weights file.*features.net=random"):
        style.feature_net("vgg19", KEY, 3, weights="")

    def edit(arrays):
        arrays.pop("params/conv2_1/bias")
        arrays["params/conv3_1/kernel"] = np.zeros((3, 3, 128, 512), np.float32)
        arrays["params/fc6/kernel"] = np.zeros(3, np.float32)

    with pytest.raises(ValueError) as error:
        style.load_vgg19_variables(_rewrite(path, tmp_path, edit))
    message = str(error.value)
    assert "VGG19 weights file" in message and "(32 variables)" in message
    assert "1 missing: params/conv2_1/bias" in message
    assert "1 unexpected: params/fc6/kernel" in message
    assert "params/conv3_1/kernel (3, 3, 128, 512) != (3, 3, 128, 256)" in message


def test_converter_maps_torchvision_vgg19(weights_file, tmp_path):
    _, flat = weights_file
    # torchvision: features = [conv, ReLU] per layer with a max pool after each block.
    indices = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
    names = dict(zip(style.VGG19_CONVS, indices, strict=True))
    state_dict = {"classifier.0.weight": np.zeros((4, 2)), "classifier.0.bias": np.zeros(4)}
    for key, value in flat.items():
        _, conv, leaf = key.split("/")
        torch_value = value.transpose(3, 2, 0, 1) if leaf == "kernel" else value  # OIHW
        state_dict[f"features.{names[conv]}.{'weight' if leaf == 'kernel' else 'bias'}"] = (
            torch_value
        )
    converted = convert_state_dict(state_dict)
    assert converted.keys() == flat.keys()
    for key, value in converted.items():
        np.testing.assert_array_equal(value, flat[key])
    with pytest.raises(ValueError, match="unknown torchvision vgg19 parameter 'features.1.weight'"):
        convert_state_dict({"features.1.weight": np.zeros(3)})


def test_random_multiscale_features():
    fnet = style.feature_net("random", KEY, 1, kernel_sizes=(5, 3), width=4)
    assert fnet.style_layers == ("scale5", "scale3") and fnet.content_layer == "scale3"
    features = fnet.net.apply(fnet.variables, jnp.zeros((2, 12, 10, 1)))
    assert {k: v.shape for k, v in features.items()} == {
        "scale5": (2, 8, 6, 4),
        "scale3": (2, 10, 8, 4),
    }
    with pytest.raises(ValueError, match="filters up to 5 px do not fit"):
        fnet.net.apply(fnet.variables, jnp.zeros((1, 4, 8, 1)))
    with pytest.raises(ValueError, match="Unknown layers \\['scale7'\\]"):
        style.feature_net("random", KEY, 1, kernel_sizes=(3,), content_layer="scale7")


def test_style_objective_terms():
    fnet = style.feature_net("random", KEY, 3, kernel_sizes=(3, 5), width=4)
    content = jax.random.uniform(KEY, (1, 12, 12, 3), minval=-1.0)
    style_image = jax.random.uniform(jax.random.PRNGKey(1), (1, 12, 12, 3), minval=-1.0)
    params, state = style.init(fnet, style_image, KEY, content, start="content")
    np.testing.assert_array_equal(params["image"], content)
    weights = {"style_weight": 2.0, "content_weight": 3.0, "tv_weight": 0.5}
    loss, (metrics, _) = style.objective(
        fnet.net, params, state, None, None, 0, content_layer="scale3", **weights
    )
    assert float(metrics["content"]) == 0.0  # starts at the content image
    expected = 2.0 * metrics["style"] + 0.5 * metrics["tv"]
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    # Starting from the style image instead, the style term vanishes.
    params, state = style.init(fnet, style_image, KEY, style_image, content=False, start="content")
    _, (metrics, _) = style.objective(
        fnet.net, params, state, None, None, 0, content_layer="scale3", **weights
    )
    assert float(metrics["style"]) < 1e-12 and "content" not in metrics


def test_texture_synthesis_loss_decreases_through_the_fit_loop(tmp_path):
    experiment = load_experiment("style_transfer")
    overrides = {
        "data.style": "gravel",
        "data.size": 24,
        "features.kernel_sizes": (3, 7),
        "features.width": 16,
        "train.learning_rate": 0.05,
        "train.steps": 30,
        "train.log_every": 5,
        "train.sample_every": 30,
    }
    c = configure(experiment.get_config(), [f"--config.{k}={v}" for k, v in overrides.items()])
    task = experiment.make_task(c)
    state = train.run_experiment(c, task, tmp_path, experiment="style_transfer")
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["style"] < 0.2 * rows[0]["style"], [r["style"] for r in rows]
    images = task.sample(state, KEY)  # the exemplar, then the synthesised texture
    assert images.shape == (2, 24, 24, 1)
    np.testing.assert_array_equal(images[0], data.to_float(task.images)[0])
    assert (tmp_path / "samples" / "step_000030.png").is_file()


def test_cli_missing_weights_file_is_one_line(tmp_path, capsys):
    workdir = tmp_path / "run"
    args = ["--config.features.net=vgg19", f"--config.features.weights={tmp_path}/nope.npz"]
    with pytest.raises(SystemExit) as exit_:
        main(["train", "style_transfer", "--workdir", str(workdir), *args])
    assert exit_.value.code == 2 and not workdir.exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxgen: error: VGG19 weights file not found") and "\n" not in err
