"""Generators and discriminators. Discriminators return one *logit* per sample, shape (N,)."""

import math

import torch
from torch import nn

OUTPUTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": nn.Identity}


def _check_input(x, shape, who):
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{who} expects input of shape (N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def _output(name):
    if name not in OUTPUTS:
        raise ValueError(f"output {name!r} is not one of {', '.join(OUTPUTS)}")
    return OUTPUTS[name]()


def mlp(sizes, slope=0.2, dropout=0.0):
    """Linear layers of the given sizes, with leaky ReLU (and dropout) between them."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(slope))
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> sample of ``out_shape``, e.g. (2,) for the 2D toys or (1, 28, 28) for MNIST."""

    def __init__(self, z_dim=100, hidden=(128,), out_shape=(1, 28, 28), output="tanh", slope=0.2):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        self.net = nn.Sequential(mlp([z_dim, *hidden, math.prod(out_shape)], slope), _output(output))

    def forward(self, z):
        _check_input(z, (self.z_dim,), type(self).__name__)
        return self.net(z).view(len(z), *self.out_shape)


class MLPDiscriminator(nn.Module):
    """Sample of ``in_shape`` -> one logit; the seeds' tutorial D is ``hidden=(128,), dropout=0.5``."""

    def __init__(self, in_shape=(1, 28, 28), hidden=(128,), dropout=0.0, slope=0.2):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.net = mlp([math.prod(in_shape), *hidden, 1], slope, dropout)

    def forward(self, x):
        _check_input(x, self.in_shape, type(self).__name__)
        return self.net(x.flatten(1)).squeeze(1)


def dcgan_init(module):
    """Weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0 (Radford et al. 2015, Sec. 4)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """DCGAN for 28x28: linear -> (2w, 7, 7) -> transposed convs with batch norm and ReLU -> tanh."""

    def __init__(self, z_dim=100, width=64, channels=1):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, 2 * width * 7 * 7, bias=False),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            # state size: (2w, 7, 7)
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(),
            # state size: (w, 14, 14)
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
            # state size: (channels, 28, 28), no batch norm on G's output (Radford et al.)
        )
        self.apply(dcgan_init)

    def forward(self, z):
        _check_input(z, (self.z_dim,), type(self).__name__)
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """DCGAN for 28x28: strided convs with leaky ReLU 0.2 (batch norm after the first) -> one logit."""

    def __init__(self, width=64, channels=1, batch_norm=True):
        super().__init__()
        self.in_shape = (channels, 28, 28)
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            # state size: (w, 14, 14), no batch norm on D's input layer (Radford et al.)
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm),
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(),
            nn.LeakyReLU(0.2),
            # state size: (2w, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )
        self.apply(dcgan_init)

    def forward(self, x):
        _check_input(x, self.in_shape, type(self).__name__)
        return self.net(x).squeeze(1)
