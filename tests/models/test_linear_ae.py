"""The linear autoencoder learns PCA's subspace (Baldi & Hornik 1989): pca_comparison
against closed forms (a rotated basis of the principal components; a basis missing one),
and a quick run on digits that reaches the principal subspace, unlike its initialisation."""

import jax
import numpy as np
import pytest
from jaxgen_experiments import linear_ae

from jaxgen import data, train
from jaxgen.evaluation import latent


def digits_float(split):
    images, _ = data.load_split("digits", split)
    return data.to_float(images)


def test_pca_comparison_closed_forms():
    x_train, x_test = digits_float("train"), digits_float("test")
    flat = x_train.reshape(len(x_train), -1).astype(np.float64)
    mu = flat.mean(axis=0)
    components = np.linalg.svd(flat - mu, full_matrices=False)[2]  # [64, 64] rows
    k = 8
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(k, k)))[0]
    kernel = q @ components[:k]  # another basis of the same subspace

    def project(basis):
        p = np.linalg.pinv(basis) @ basis  # projection onto the row space
        return lambda x: mu + (x.reshape(len(x), -1) - mu) @ p

    same = latent.pca_comparison(kernel, project(kernel), x_train, x_test)
    assert same["principal_angle_max"] < 1e-6
    assert same["mse_ratio_ae_to_pca"] == pytest.approx(1.0, abs=1e-9)
    other = np.concatenate([components[: k - 1], components[k : k + 1]])  # k-th swapped out
    swapped = latent.pca_comparison(other, project(other), x_train, x_test)
    assert swapped["principal_angle_max"] == pytest.approx(np.pi / 2, abs=1e-6)
    assert swapped["mse_ratio_ae_to_pca"] > 1.0


def test_quick_run_reaches_the_principal_subspace(tmp_path):
    c = linear_ae.get_config("quick")
    c.train.sample_every = 0
    state = train.run_experiment(c, linear_ae.make_task(c), tmp_path, experiment="linear_ae")
    model = linear_ae.make_model(c)

    def compare(params):
        return latent.pca_comparison(
            np.asarray(params["from_code"]["kernel"]),
            lambda x: model.apply({"params": params}, x),
            digits_float("train"),
            digits_float("test"),
        )

    trained = compare(state.ema_params)
    assert trained["principal_angle_max"] < 0.05 and trained["mse_ratio_ae_to_pca"] < 1.01
    initial = compare(
        linear_ae.make_task(c).init(jax.random.PRNGKey(0), digits_float("test")[:2])[0]
    )
    assert initial["principal_angle_max"] > 1.0  # a random decoder spans another subspace
    results = linear_ae.evaluate(tmp_path)
    assert results["principal_angle_max"] == pytest.approx(trained["principal_angle_max"])
