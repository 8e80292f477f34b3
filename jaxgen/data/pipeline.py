"""In-memory input pipeline: deterministic, resumable, laid out on the device mesh.

The global batch at position p is a pure function of (seed, p): epoch e = p // (N // B)
uses the permutation drawn from numpy's PCG64 seeded with (seed, e), and batch i of the
epoch takes its rows i*B .. (i+1)*B. Every process holds the split in memory and puts on
its own devices the rows of the global batch they own, so a run gives the same global
batches on 1 device, N devices or N processes, and saving `position` is enough to resume.
"""

import dataclasses
from collections.abc import Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def data_mesh(num_devices=None):
    """1-D mesh over the first `num_devices` devices (all when None), axis named 'data'."""
    devices = jax.devices()
    num_devices = num_devices or len(devices)
    if not 1 <= num_devices <= len(devices):
        raise ValueError(f"num_devices={num_devices} but only {len(devices)} devices exist.")
    return Mesh(np.asarray(devices[:num_devices]), (DATA_AXIS,))


def to_float(images):
    """uint8 {0..255} -> float32 in [-1, 1]: x / 127.5 - 1."""
    return images.astype(np.float32) / 127.5 - 1.0


def check_batch_size(batch_size, n_dev, num_examples=None):
    """Errors for a global batch that `n_dev` devices or a split of `num_examples` (None:
    not checked) cannot serve."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if batch_size % n_dev:
        raise ValueError(
            f"batch_size={batch_size} is not divisible by the {n_dev} devices of the mesh; "
            f"use a multiple of {n_dev} (e.g. {n_dev * max(1, batch_size // n_dev)})."
        )
    if num_examples is not None and batch_size > num_examples:
        raise ValueError(
            f"batch_size={batch_size} exceeds the {num_examples} examples of the split."
        )


@dataclasses.dataclass
class BatchIterator(Iterator):
    """Infinite iterator of {'image': [B, H, W, C] float32 in [-1, 1], 'label': [B] int32,
    and each of `extras` (per-row arrays [N, ...], e.g. a caption's 'tokens'): its [B, ...]
    rows} global arrays sharded over the mesh's 'data' axis. State: {'position': batches
    served}."""

    images: np.ndarray  # [N, H, W, C] uint8
    labels: np.ndarray  # [N] int32
    batch_size: int
    seed: int
    mesh: Mesh
    shuffle: bool = True
    position: int = 0
    extras: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_batch_size(self.batch_size, self.mesh.devices.size, len(self.images))
        self.sharding = NamedSharding(self.mesh, P(DATA_AXIS))
        self._order = (None, None)  # (epoch, its permutation): drawn once per epoch

    def order(self, epoch):
        """The epoch's row order: numpy PCG64 seeded with (seed, epoch), permuting all rows."""
        if self._order[0] != epoch:
            rng = np.random.default_rng((self.seed, epoch))
            self._order = (epoch, rng.permutation(len(self.images)))
        return self._order[1]

    @property
    def batches_per_epoch(self):
        return len(self.images) // self.batch_size

    def indices(self, position):
        """Rows of the global batch at `position`: [B] int."""
        epoch, i = divmod(position, self.batches_per_epoch)
        rows = np.arange(i * self.batch_size, (i + 1) * self.batch_size)
        return self.order(epoch)[rows] if self.shuffle else rows

    def global_array(self, host_array):
        """A [B, ...] host array placed as a global array; each device gets only its rows."""
        return jax.make_array_from_callback(
            host_array.shape, self.sharding, lambda index: host_array[index]
        )

    def __next__(self):
        rows = self.indices(self.position)
        self.position += 1
        return {
            "image": self.global_array(to_float(self.images[rows])),
            "label": self.global_array(self.labels[rows]),
            **{k: self.global_array(v[rows]) for k, v in self.extras.items()},
        }

    def get_state(self):
        return {"position": self.position}

    def set_state(self, state):
        self.position = int(state["position"])
