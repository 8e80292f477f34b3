"""DDPM (Ho et al. 2020): a U-Net noise predictor trained with L_simple, on `digits`.

The U-Net eps_theta(x_t, t) is trained on L_simple = E ||eps - eps_theta(x_t, t)||^2 with
x_t ~ q(x_t | x_0) under a linear schedule of T = 1000 steps; Adam with warm-up and
clipping, EMA weights. The sample hook draws with the EMA params by DDIM, 50 steps;
--config.sample.sampler=ddpm for Algorithm 2 over all T steps. Config, wiring and
evaluation: jaxgen.tasks.diffusion, shared with ddpm_cond and latent_diffusion.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, the U-Net at width 16 (0.25M parameters), batch 64, 2,000 steps
  digits digits, the 0.57M-parameter U-Net (width 24, mults (1, 2), 2 res blocks, attention
         at 4x4), batch 128, 5,000 steps (the default)
  cpu    fashion_mnist 28x28, a 0.16M-parameter U-Net (width 16, mults (1, 2), 1 res block,
         no attention), batch 64, 6,000 steps; the steps table adds DPM-Solver++(2M) rows
  dit_cpu  fashion_mnist, a 0.18M-parameter DiT (width 48, 4 blocks, 4 heads, 2x2 patches)
         in the U-Net's place, batch 64, 2,000 steps (a DiT step costs about three U-Net
         steps on a CPU)
  gpu    fashion_mnist, the paper's CIFAR-10 U-Net scaled to 28x28 (6.5M parameters): width
         64, mults (1, 2, 2), attention at 14x14, GroupNorm 32; Adam 2e-4 with 5,000 warm-up
         steps, EMA 0.9999, 100,000 steps
The cpu preset is the pixel-space reference on a CPU budget; latent diffusion is the
route to quality there (README, Diffusion results).

Run (the same as `jaxgen train ddpm`; the run directory defaults to runs/ddpm):
  python experiments/ddpm.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/ddpm.py eval DIR [--step N] [--config.eval.num_samples=1000 ...]
writes DIR/eval/step_N/: eval.json with the steps table (DDIM with each of
eval.ddim_steps steps and, with eval.ancestral, Algorithm 2 over all T steps; per row FID,
precision/recall and mode coverage with the dataset's classifier features on
eval.num_samples samples, 10,000 by default, the ancestral row on eval.ancestral_num_samples
unless 0, and sampling seconds per image of the compiled sampler) and the training seconds
per step (median over metrics.jsonl); the pictures of eval.pictures: steps.png (a row per
sampler, the same x_T per column), forward.png (test images x_0 and x_t ~ q(x_t | x_0) at
increasing t), trajectory.png (x_T, then x_t along one chain of the run's sampler per row)
and inpainting.png (masked / inpainted / original rows; eval.inpaint_mask = right, bottom
or center is the unknown region; RePaint with eval.inpaint_resample = U passes per step);
with 'sdedit' in eval.pictures, SDEdit's table (per strength of eval.sdedit_strengths: FID
and mean squared distance to the input over eval.sdedit_num_examples test images) and
sdedit.png (inputs, then a row per strength); with 'bpd', the variational bound on the
test NLL (Ho et al. 2020, eq. 5) in bits/dim over the first eval.bpd_num_examples test
images (T network passes per image); with 'interpolation', interpolation.png (per row two
test images' DDIM inversions interpolated spherically and decoded with DDIM).
"""

from jaxgen import runs, train
from jaxgen.tasks import diffusion

PRESETS = diffusion.PRESETS
make_task = diffusion.pixel_task
evaluate = diffusion.evaluate


def get_config(preset="digits"):
    return train.with_preset(diffusion.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
