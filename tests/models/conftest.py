"""Shared runs of the text-to-image tests: one quick CLIP (10 steps on digits_captions) per
test process, the frozen text model of DALL-E's evaluation and of Imagen."""

import pytest
from jaxgen_experiments import clip as clip_experiment

from jaxgen import train


def quick_run(experiment, workdir, preset, **changes):
    """train.run_experiment of `experiment`'s `preset` with config `changes` in `workdir`."""
    c = experiment.get_config(preset)
    c.update_from_flattened_dict(changes)
    name = experiment.__name__.rsplit(".", 1)[-1]
    return train.run_experiment(c, experiment.make_task(c), workdir, experiment=name)


@pytest.fixture(scope="session")
def quick_clip(tmp_path_factory):
    """The run directory of a 10-step quick CLIP."""
    workdir = str(tmp_path_factory.mktemp("clip") / "run")
    quick_run(
        clip_experiment, workdir, "quick", **{"train.steps": 10, "train.checkpoint_every": 10}
    )
    return workdir
