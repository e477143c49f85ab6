"""Cost of the JS regularizer: time of one discriminator step, plain vs regularized (Roth et al. 2017).

DCGAN discriminator for 28x28, batch 64 real + 64 fake, Adam; the regularized step adds
(gamma / 2) * js_regularizer, which needs a double back-propagation. Prints both times and their
ratio (the goal is <= 2.5x). Run: ``python benchmarks/bench_js.py``.
"""

import torch

import regan_tutorial as rt
from regan_tutorial.losses import js_regularizer
from regan_tutorial.nets import DCGANDiscriminator
from regan_tutorial.studies import discriminator_step_seconds


def main():
    device = rt.get_device()
    x_real, x_fake = (torch.rand(64, 1, 28, 28, device=device) * 2 - 1 for _ in range(2))
    for batch_norm in (True, False):
        times = []
        for regularizer in (None, js_regularizer):
            torch.manual_seed(0)
            d = DCGANDiscriminator(batch_norm=batch_norm).to(device)
            times.append(discriminator_step_seconds(d, x_real, x_fake, regularizer, repeats=30, warmup=5))
        plain, reg = times
        print(f"DCGAN D {'with' if batch_norm else 'without'} batch norm: plain {1000 * plain:.1f} ms, "
              f"regularized {1000 * reg:.1f} ms, ratio {reg / plain:.2f}x")


if __name__ == "__main__":
    main()
