"""Noise schedules by name, for configs: ``make_schedule("cosine", 1000)``.

The schedules themselves (``NoiseSchedule``, ``linear_schedule``, ``cosine_schedule``) are
pure functions of ``jaxgen.losses``; this is only the registry the experiments select from.
"""

from jaxgen.losses import NoiseSchedule, cosine_schedule, linear_schedule

SCHEDULES = {
    "linear": linear_schedule,  # Ho et al. 2020: beta_t from 1e-4 to 0.02
    "cosine": cosine_schedule,  # Nichol & Dhariwal 2021, eq. 17
}


def make_schedule(name: str, num_steps: int) -> NoiseSchedule:
    """The schedule `name` ('linear' or 'cosine') with T = `num_steps` steps."""
    if name not in SCHEDULES:
        raise ValueError(f"Unknown noise schedule {name!r}; choose one of {sorted(SCHEDULES)}.")
    return SCHEDULES[name](num_steps)
