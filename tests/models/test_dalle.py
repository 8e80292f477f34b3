"""DALL-E: the loss against numpy, causality of the transformer over [text; codes], the
sampler against a plain Python loop and against softmax(l / T), the text-to-image scores,
and one quick run of CLIP, a VQ-VAE and DALL-E end to end on digits_captions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxgen_experiments import clip as clip_experiment
from jaxgen_experiments import dalle as dalle_experiment
from jaxgen_experiments import vqvae as vqvae_experiment
from PIL import Image

from jaxgen import cli, data, losses
from jaxgen.data import captions
from jaxgen.evaluation import clip as clip_eval
from jaxgen.evaluation import text_to_image
from jaxgen.models import dalle
from jaxgen.tasks import text_to_image as text_to_image_task
from jaxgen.train.writers import image_grid

from .conftest import quick_run

L, M, V, K = 5, 6, 11, 7  # text places, codes per image, text vocabulary, codebook size


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def tiny(text_len=L):
    model = dalle.DALLE(V, text_len, K, M, width=16, depth=2, num_heads=2)
    rng = np.random.default_rng(0)
    text = jnp.asarray(rng.integers(1, V, (3, text_len))) if text_len else None
    codes = jnp.asarray(rng.integers(0, K, (3, M)))
    return model, model.init(jax.random.PRNGKey(0), text, codes)["params"], text, codes


def test_dalle_loss_matches_numpy():
    rng = np.random.default_rng(1)
    text_logits, code_logits = rng.normal(size=(4, L, V)), rng.normal(size=(4, M, K))
    text = rng.integers(1, V, (4, L))
    text[0, 3:] = 0  # padding: no loss on predicting it
    codes = rng.integers(0, K, (4, M))
    loss, terms = losses.dalle_loss(text_logits, text, code_logits, codes, text_weight=0.25)
    ce_image = -np.take_along_axis(log_softmax(code_logits), codes[..., None], -1)[..., 0]
    ce_text = -np.take_along_axis(log_softmax(text_logits[:, :-1]), text[:, 1:, None], -1)[..., 0]
    weights = text[:, 1:] != 0
    expected_text = (ce_text * weights).sum(1) / weights.sum(1)
    np.testing.assert_allclose(terms["image"], ce_image.mean(1), rtol=1e-5)
    np.testing.assert_allclose(terms["text"], expected_text, rtol=1e-5)
    np.testing.assert_allclose(loss, 0.25 * expected_text + 0.75 * ce_image.mean(1), rtol=1e-5)
    alone, _ = losses.dalle_loss(None, None, code_logits, codes)  # a prior: image CE only
    np.testing.assert_allclose(alone, ce_image.mean(1), rtol=1e-5)
    assert losses.token_cross_entropy(code_logits, codes, np.zeros((4, M)))[0] == 0.0


def test_code_logits_see_the_text_and_only_earlier_codes():
    model, params, text, codes = tiny()
    text_logits, code_logits = model.apply({"params": params}, text, codes)
    assert text_logits.shape == (3, L, V) and code_logits.shape == (3, M, K)
    for j in range(M):  # changing c_j, ..., c_M leaves the predictions of c_1..c_j alone
        changed = codes.at[:, j:].set((codes[:, j:] + 1) % K)
        t2, c2 = model.apply({"params": params}, text, changed)
        np.testing.assert_array_equal(c2[:, : j + 1], code_logits[:, : j + 1])
        np.testing.assert_array_equal(t2, text_logits)  # text never sees the codes
        if j + 1 < M:
            assert not np.allclose(c2[:, j + 1 :], code_logits[:, j + 1 :])
    other_text = text.at[:, 0].set((text[:, 0] + 1) % V)
    assert not np.allclose(model.apply({"params": params}, other_text, codes)[1], code_logits)


@pytest.mark.parametrize("text_len", [L, 0])
def test_scan_sampler_equals_a_python_loop(text_len):
    model, params, text, _ = tiny(text_len)
    key, temperature, top_k = jax.random.PRNGKey(3), 0.7, 3
    drawn = dalle.sample_codes(model, params, key, text, 3, temperature, top_k)
    codes = np.zeros((3, M), np.int32)
    for m, k in enumerate(jax.random.split(key, M)):
        logits = np.asarray(model.apply({"params": params}, text, jnp.asarray(codes))[1][:, m])
        kept = np.where(logits >= np.sort(logits, axis=1)[:, -top_k:][:, :1], logits, -np.inf)
        codes[:, m] = jax.random.categorical(k, jnp.asarray(kept) / temperature)
    np.testing.assert_array_equal(drawn, codes)
    greedy = dalle.sample_codes(model, params, key, text, 3, 1.0, top_k=1)
    _, logits = model.apply({"params": params}, text, greedy)
    np.testing.assert_array_equal(greedy, np.argmax(logits, axis=-1))


def test_first_code_follows_softmax_of_logits_over_temperature():
    model, params, _, _ = tiny(text_len=0)
    n, temperature = 20_000, 0.5
    drawn = dalle.sample_codes(model, params, jax.random.PRNGKey(0), None, n, temperature)
    logits = np.asarray(model.apply({"params": params}, None, jnp.zeros((1, M), int))[1][0, 0])
    p = np.exp(log_softmax(logits / temperature))
    frequency = np.bincount(np.asarray(drawn[:, 0]), minlength=K) / n
    np.testing.assert_allclose(frequency, p, atol=4 * np.sqrt(p.max() / n))
    kept = dalle.top_k_logits(jnp.asarray(np.random.default_rng(0).normal(size=(5, K))), 3)
    assert (np.isfinite(kept).sum(axis=1) == 3).all()


def test_caption_accuracy_and_clip_score_closed_forms():
    s = data.load_captioned("digits_captions", "test")
    truth = {a: getattr(s, a) for a in text_to_image.ATTRIBUTES}
    scores = text_to_image.caption_accuracy(s.image, truth, s.item)  # items read right
    assert scores["accuracy_colour"] == scores["accuracy_position"] == 1.0
    read = captions.read_attributes(s.image)
    all_right = (read["size"] == s.size) & (read["colour"] == s.colour)
    assert scores["accuracy_caption"] == pytest.approx(
        np.mean(all_right & (read["position"] == s.position))
    )
    black = np.zeros_like(s.image[:4])
    assert (
        text_to_image.caption_accuracy(black, {a: v[:4] for a, v in truth.items()}, s.item[:4])[
            "accuracy_caption"
        ]
        == 0.0
    )
    assert len(captions.held_out_pairs()) == 8
    u = np.random.default_rng(0).normal(size=(6, 4))
    assert text_to_image.clip_score(u, 3 * u) == pytest.approx(100.0)
    assert text_to_image.clip_score(u, -u) == 0.0  # max(cos, 0)


def test_a_prior_needs_no_text_and_text_needs_captions(tmp_path):
    c = dalle_experiment.get_config("quick")
    c.data.name = "digits"
    with pytest.raises(ValueError, match="has no captions"):
        dalle_experiment.make_task(c)


def test_quick_runs_of_clip_vqvae_and_dalle_end_to_end(tmp_path, quick_clip, capsys):
    clip_dir = quick_clip
    vq_dir, dalle_dir = (str(tmp_path / n) for n in ("vq", "dalle"))
    results = clip_experiment.evaluate(clip_dir, overrides=["--config.eval.num_examples=64"])
    assert results["num_examples_test"] == 64 and results["num_prompts"] == 1200
    keys = [f"zero_shot_{a}" for a in clip_eval.ATTRIBUTES] + ["retrieval_r@1", "retrieval_r@5"]
    assert all(0 <= results[k] <= 1 for k in keys)
    assert results["retrieval_r@1"] <= results["retrieval_r@5"]

    vq = {"data.name": "digits_captions", "model.widths": (8, 16), "train.steps": 10}
    quick_run(vqvae_experiment, vq_dir, "quick", **vq, **{"train.sample_every": 0})
    changes = {"vqvae.workdir": vq_dir, "train.steps": 10, "train.sample_every": 10}
    changes["train.num_samples"] = 8  # the sample hook: 8 test captions
    state = quick_run(dalle_experiment, dalle_dir, "quick", **changes)
    assert int(state.step) == 10
    overrides = [f"--config.eval.clip_run={clip_dir}", "--config.eval.num_examples=16",
                 "--config.eval.batch_size=16"]  # fmt: skip
    results = dalle_experiment.evaluate(dalle_dir, overrides=overrides)
    for suffix in ("", "_held_out"):
        for k in ("accuracy_caption", "accuracy_colour", "accuracy_item", "precision"):
            assert 0 <= results[k + suffix] <= 1
        assert results["real_accuracy_colour" + suffix] == 1.0  # the oracle on real images
        assert results["real_clip_score" + suffix] >= 0 and results["fid" + suffix] > 0
    assert (tmp_path / "dalle/eval/step_000010/captions.png").exists()

    # `jaxgen captions`: a row per run, each its experiment's own caption generator on the
    # first test captions under the seed (the same run twice: the same row twice).
    out = tmp_path / "side_by_side.png"
    cli.main(["captions", dalle_dir, dalle_dir, "--n", "4", "--seed", "3", "--out", str(out)])
    c = dalle_experiment.get_config("quick")
    c.update_from_flattened_dict(changes)
    tokens = text_to_image_task.test_captions(c, 4)
    row = dalle_experiment.caption_generator(c, state.ema_params)(tokens, jax.random.PRNGKey(3))
    grid = image_grid(np.concatenate([row, row]), ncol=4)
    picture = np.asarray(Image.open(out))
    scale = picture.shape[1] // grid.shape[1]
    np.testing.assert_array_equal(picture[::scale, ::scale], grid)
    with pytest.raises(SystemExit):
        cli.main(["captions", dalle_dir, vq_dir, "--out", str(tmp_path / "no.png")])
    assert "a vqvae run, which draws no images from captions" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()
