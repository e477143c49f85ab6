"""Milliseconds per training step of each of the course's GANs on the best available device.

Run: ``python benchmarks/bench_steps.py``. Prints one line per model, measured
after a warm-up, with the batch sizes the chapters use.
"""

import time

import torch

import regan_tutorial as rt
from regan_tutorial.data import load_mnist, ring
from regan_tutorial.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from regan_tutorial.train import train


def ms_per_step(g, d, data, batch_size, lr, betas, steps=200, warmup=20):
    g_opt, d_opt = (torch.optim.Adam(m.parameters(), lr, betas=betas) for m in (g, d))
    kw = dict(batch_size=batch_size, g_opt=g_opt, d_opt=d_opt, progress=False)
    train(g, d, data, steps=warmup, **kw)
    if data.is_cuda:
        torch.cuda.synchronize()
    tic = time.perf_counter()
    train(g, d, data, steps=steps, **kw)
    if data.is_cuda:
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - tic) / steps


def main():
    device = rt.get_device()
    rt.seed_everything(0)
    images = load_mnist(device=device).images
    toy = ring().sample(100_000).to(device)
    models = {
        "2D toy GAN (128-wide MLPs, batch 512)": (MLPGenerator(2, (128, 128), (2,), output="none"),
                                                  MLPDiscriminator((2,), (128, 128)), toy, 512, 1e-3),
        "MNIST MLP GAN (batch 128)": (MLPGenerator(100, (128,)), MLPDiscriminator(hidden=(128,), dropout=0.5),
                                      images, 128, 1e-3),
        "DCGAN 28x28 (width 64, batch 64)": (DCGANGenerator(), DCGANDiscriminator(), images, 64, 2e-4),
    }
    for name, (g, d, data, batch, lr) in models.items():
        print(f"{name:40s} {ms_per_step(g.to(device), d.to(device), data, batch, lr, (0.5, 0.999)):7.2f} ms/step")


if __name__ == "__main__":
    main()
