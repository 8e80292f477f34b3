"""The presets the autoencoder and VAE experiments share (ae, dae, vae, beta_vae, vae_latent,
hvae, vqvae): quick is the experiment's defaults (8x8 `digits`); cpu and gpu train on
Fashion-MNIST with a common schedule, to which each experiment adds its own keys."""

CPU = {
    "data.name": "fashion_mnist",
    "train.steps": 12_000,
    "train.checkpoint_every": 4000,
    "train.sample_every": 4000,
}
GPU = {
    "data.name": "fashion_mnist",
    "data.batch_size": 128,
    "model.widths": (64, 128),
    "train.steps": 50_000,
    "train.checkpoint_every": 5000,
    "train.sample_every": 5000,
}


def fashion_mnist(cpu: dict | None = None, gpu: dict | None = None) -> dict:
    """{'quick': {}, 'cpu': CPU + cpu, 'gpu': GPU + gpu}: presets for train.with_preset."""
    return {"quick": {}, "cpu": {**CPU, **(cpu or {})}, "gpu": {**GPU, **(gpu or {})}}
