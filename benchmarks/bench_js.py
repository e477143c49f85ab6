"""Cost of the JS regularizer: time of one discriminator step, plain vs regularized (Roth et al. 2017).

DCGAN discriminator for 28x28, batch 64 real + 64 fake, Adam; the regularized step adds
(gamma / 2) * js_regularizer, which needs a double back-propagation. Prints both times and their
ratio (the goal is <= 2.5x). Run: ``python benchmarks/bench_js.py``.
"""

import time

import torch

import regan_tutorial as rt
from regan_tutorial.losses import discriminator_loss, js_regularizer
from regan_tutorial.nets import DCGANDiscriminator


def step_seconds(regularized, batch_norm, device, repeats=30, warmup=5):
    torch.manual_seed(0)
    d = DCGANDiscriminator(batch_norm=batch_norm).to(device)
    opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    x_real = torch.rand(64, 1, 28, 28, device=device) * 2 - 1
    x_fake = torch.rand(64, 1, 28, 28, device=device) * 2 - 1

    def step():
        xr, xf = (x.clone().requires_grad_(regularized) for x in (x_real, x_fake))
        dr, df = d(xr), d(xf)
        loss = discriminator_loss(dr, df)
        if regularized:
            loss = loss + 2.0 / 2 * js_regularizer(dr, xr, df, xf)  # gamma_0 = 2 (Roth et al.'s DCGAN)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - tic) / repeats


def main():
    device = rt.get_device()
    for batch_norm in (True, False):
        plain, reg = step_seconds(False, batch_norm, device), step_seconds(True, batch_norm, device)
        print(f"DCGAN D {'with' if batch_norm else 'without'} batch norm: plain {1000 * plain:.1f} ms, "
              f"regularized {1000 * reg:.1f} ms, ratio {reg / plain:.2f}x")


if __name__ == "__main__":
    main()
