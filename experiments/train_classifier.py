"""Classifier of an offline dataset: the feature network of its FID / KID / IS.

    # fashion_mnist v2: two convs per block, dropout 0.2, random mirroring, 5,000 steps
    python experiments/train_classifier.py --config.data.name=fashion_mnist \
        --config.model.convs_per_block=2 --config.model.dropout_rate=0.2 \
        --config.augment.flip=True --config.train.steps=5000
    # digits v1: the defaults
    python experiments/train_classifier.py --config.data.name=digits --config.train.steps=1500

trains a ConvClassifier with cross-entropy through the shared fit loop, measures the final
parameters' accuracy on the whole test split and writes them, versioned, to
jaxgen/metrics/weights/<dataset>_classifier_v<version>.npz with a JSON sidecar
(jaxgen.metrics.classifier.VERSIONS holds each dataset's current version; the sidecar
records the command). `jaxgen train train_classifier` trains, no export. `config.model`
sets convs per block and dropout, `config.augment` random mirroring (garments keep their
class, digits do not) and +-s px shifts.
"""

import argparse
import functools
import sys

import ml_collections
import optax

from jaxgen import data, train
from jaxgen.metrics import classifier
from jaxgen.models.classifier import ConvClassifier, objective


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_mnist", "batch_size": 128}
    c.model = {
        "widths": (32, 64, 128), "feature_dim": 128, "convs_per_block": 1, "dropout_rate": 0.0,
    }  # fmt: skip
    c.augment = {"flip": False, "max_shift": 0}
    c.train = {
        "steps": 3500, "learning_rate": 1e-3, "weight_decay": 1e-4, "ema_decay": 0.999,
        "log_every": 100, "checkpoint_every": 1000, "sample_every": 0, "grad_accum_steps": 1,
        "precision": "fp32",
    }  # fmt: skip
    return c


def make_model(c):
    num_classes = data.dataset_spec(c.data.name).num_classes
    m = c.model
    return ConvClassifier(
        num_classes,
        tuple(m.widths),
        m.feature_dim,
        convs_per_block=m.convs_per_block,
        dropout_rate=m.dropout_rate,
    )


def make_task(c):
    model = make_model(c)
    updates = c.train.steps // c.train.grad_accum_steps  # the schedule counts optimizer updates
    learning_rate = optax.cosine_decay_schedule(c.train.learning_rate, updates)
    return train.Task(
        init=lambda key, x: (model.init(key, x)["params"], {}),
        tx=optax.adamw(learning_rate, weight_decay=c.train.weight_decay),
        step=train.loss_step(
            functools.partial(objective, model, flip=c.augment.flip, max_shift=c.augment.max_shift)
        ),
    )


def main(argv):
    config, rest = train.apply_overrides(get_config(), argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=f"runs/train_classifier_{config.data.name}")
    workdir = parser.parse_args(rest).workdir
    state = train.run_experiment(config, make_task(config), workdir)
    model, name = make_model(config), config.data.name
    images, labels = data.load_split(name, "test", config.data.get("data_dir"))
    apply = classifier.make_apply(model, state.params, data.dataset_spec(name).shape)
    accuracy = classifier.classifier_accuracy(apply, images, labels)
    info = {
        "seed": config.seed, "steps": config.train.steps, "test_accuracy": accuracy,
        "test_images": len(images),
        "command": " ".join(["python experiments/train_classifier.py", *argv]),
        "config": config.to_dict(),
    }  # fmt: skip
    path = classifier.save_feature_net(name, model, state.params, info)
    print(f"{name} classifier: test accuracy {accuracy:.4f} on {len(images)} images -> {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
