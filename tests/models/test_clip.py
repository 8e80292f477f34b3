"""CLIP: encoders' shapes and EOS pooling, the loss over the global batch (4 devices train
as 1), the zero-shot and retrieval evaluation against brute force, a quick run end to end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh
from jaxgen_experiments import clip as clip_experiment

from jaxgen import data, train
from jaxgen.evaluation import clip as clip_eval
from jaxgen.models.clip import CLIP, EOS, TextEncoder, ViT


def quick_config(**changes):
    c = clip_experiment.get_config("quick")
    c.update_from_flattened_dict(changes)
    return c


def test_text_embedding_is_read_at_eos_and_ignores_padding():
    encoder = TextEncoder(vocab_size=20, width=16, depth=2, num_heads=2, embed_dim=8)
    tokens = jnp.array([[1, 5, 6, EOS, 0, 0], [1, 7, EOS, 0, 0, 0]])
    params = encoder.init(jax.random.PRNGKey(0), tokens)
    out = encoder.apply(params, tokens)
    assert out.shape == (2, 8)
    noisy = tokens.at[0, 4:].set(9).at[1, 3:].set(11)  # other tokens after EOS
    np.testing.assert_allclose(encoder.apply(params, noisy), out, rtol=1e-5, atol=1e-6)
    changed = tokens.at[0, 1].set(8)  # a word before EOS does change it
    assert not np.allclose(encoder.apply(params, changed)[0], out[0])


def test_four_devices_train_as_one():
    """The loss is over the all-gathered global batch, so 3 steps on a 4-device mesh give
    the losses and parameters of one device (the mean of per-device losses would not)."""
    c = quick_config(**{"data.batch_size": 16, "optimizer.warmup_steps": 1})
    task = clip_experiment.make_task(c)
    params, losses = [], []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
        mesh = Mesh(np.asarray(devices), (data.DATA_AXIS,))
        batches = data.load(c.data.name, "train", 16, 0, mesh=mesh)
        state, step = train.init_state(task, c, mesh), train.build_step(task.step, mesh)
        seen = []
        for _ in range(3):
            state, metrics = step(state, next(batches))
            seen.append(float(metrics["loss"]))
        losses.append(seen)
        params.append(jax.device_get(state.params))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    one, four = (jax.tree_util.tree_flatten_with_path(p)[0] for p in params)
    for (path, a), (_, b) in zip(one, four, strict=True):
        # Attention's key bias adds the same q.b to every logit of a row: its gradient is 0
        # up to rounding, which Adam scales to a full step either way.
        if "['key']['bias']" not in jax.tree_util.keystr(path):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6, err_msg=str(path))


def test_zero_shot_and_retrieval_against_brute_force():
    rng = np.random.default_rng(0)
    texts, table = clip_eval.prompt_table("digits")
    assert len(texts) == 10 * 8 * 3 * 5 and len(set(texts)) == len(texts)
    # embeddings that encode each attribute value in its own block of coordinates
    dims = [10, 8, 3, 5]
    offsets = np.cumsum([0, *dims])

    def embed(values):
        x = np.zeros((len(values["item"]), offsets[-1]))
        for i, a in enumerate(clip_eval.ATTRIBUTES):
            x[np.arange(len(x)), offsets[i] + values[a]] = 1.0
        return x

    prompts = embed(table)
    truth = {a: rng.integers(0, d, 50) for a, d in zip(clip_eval.ATTRIBUTES, dims, strict=True)}
    scores = clip_eval.zero_shot(embed(truth), prompts, table, truth)
    assert all(v == 1.0 for v in scores.values()), scores
    images, texts_emb = rng.normal(size=(40, 6)), rng.normal(size=(40, 6))
    got = clip_eval.retrieval(images, texts_emb, ks=(1, 5))
    sim = clip_eval.normalise(texts_emb) @ clip_eval.normalise(images).T
    ranks = [list(np.argsort(-row)).index(i) for i, row in enumerate(sim)]
    for k in (1, 5):
        assert got[f"retrieval_r@{k}"] == np.mean(np.array(ranks) < k)
    assert clip_eval.retrieval(images, images)["retrieval_r@1"] == 1.0


def test_a_non_captioned_dataset_is_refused():
    with pytest.raises(ValueError, match="captioned dataset"):
        clip_experiment.make_task(quick_config(**{"data.name": "digits"}))


def test_token_features_at_eos_give_the_text_embedding():
    """Imagen's conditioning reads the text tower at every place; its projected feature at
    the EOS place is CLIP's text embedding (one network, two read-outs)."""
    model = CLIP(ViT(4, 16, 1, 2, 8), TextEncoder(20, 16, 2, 2, 8))
    tokens = jnp.array([[5, 6, EOS, 0, 0], [7, EOS, 0, 0, 0]])
    params = model.init(jax.random.key(0), jnp.zeros((2, 8, 8, 1)), tokens)["params"]
    features = model.apply({"params": params}, tokens, method="encode_text_tokens")
    assert features.shape == (2, 5, 16)
    projection = params["text"]["projection"]["kernel"]
    np.testing.assert_allclose(
        jnp.stack([features[0, 2], features[1, 1]]) @ projection,
        model.apply({"params": params}, tokens, method="encode_text"),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
