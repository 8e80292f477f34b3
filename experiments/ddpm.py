"""DDPM (Ho et al. 2020): U-Net noise predictor trained with L_simple on `digits`; the sample
hook draws with EMA params by DDIM, 50 steps. --config.sample.sampler=ddpm for Algorithm 2
over all T = 1000 steps.

Presets (--config.preset=NAME; explicit --config overrides still win). CPU seconds per step
were measured on a shared 2-core CPU:
  quick  digits, the U-Net at width 16 (0.25M parameters), batch 64, 2,000 steps (~4
         CPU-minutes with the 1,000-sample evaluation of `jaxgen bench --quality`)
  cpu    the defaults below: digits, the 0.57M-parameter U-Net (width 24, mults (1, 2), 2 res
         blocks, attention at 4x4), batch 128, 5,000 steps: 0.26-0.28 s per step alone on the
         idle 2-core CPU (a 300-step run), so ~23 min for the run; 24-28 min wall beside
         another job; its evaluation with 10,000 samples per DDIM row and
         --config.eval.ancestral_num_samples=1000 takes 27-29 min (26-31 CPU-minutes).
         Width 32 (1.0M parameters) took 27 min alone for FID 7.54 at DDIM 100 against
         width 24's 7.90 (3 seeds each). Not Fashion-MNIST: at 28x28
         even a 164k-parameter U-Net (width 16, 1 res block) costs ~0.56 CPU-s per step of
         batch 64, so 20 minutes buy ~3 epochs, and ancestral sampling of 1,000 images over
         T = 1000 steps alone takes ~40 CPU-minutes
  gpu    fashion_mnist, the paper's CIFAR-10 U-Net scaled to 28x28 (6.5M parameters): width
         64, mults (1, 2, 2), attention at 14x14, GroupNorm 32; Adam 2e-4 with 5,000 warm-up
         steps, EMA 0.9999, 100,000 steps; evaluation on 10,000 samples (the protocol)

Evaluation of a run (EMA weights, newest checkpoint unless --step):
  python experiments/ddpm.py eval WORKDIR [--step N] [--config.eval.num_samples=1000 ...]
writes WORKDIR/eval/step_N/: eval.json with the steps table (DDIM with each of
eval.ddim_steps steps and, with eval.ancestral, Algorithm 2 over all T steps; per row FID,
precision/recall and mode coverage with the dataset's classifier features on
eval.num_samples samples, the ancestral row on eval.ancestral_num_samples unless 0, and
sampling seconds per image of the compiled sampler) and the
training seconds per step (median over metrics.jsonl); the pictures of eval.pictures:
steps.png (a row per sampler, the same x_T per column), forward.png (test images x_0 and
x_t ~ q(x_t | x_0) at increasing t), trajectory.png (x_T, then x_t along one chain of the
run's sampler per row) and inpainting.png (masked / inpainted / original rows;
eval.inpaint_mask = right, bottom or center is the unknown region; RePaint with
eval.inpaint_resample = U passes per step).
"""

from jaxgen import runs, train
from jaxgen.tasks import diffusion

PRESETS = diffusion.PRESETS
make_task = diffusion.pixel_task
evaluate = diffusion.evaluate


def get_config(preset="cpu"):
    return train.with_preset(diffusion.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
