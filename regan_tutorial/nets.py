"""Generators and discriminators. Discriminators return one *logit* per sample, shape (N,)."""

import math

import torch
from torch import nn

from .losses import input_gradient_norm2, per_sample

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
    """Sample of ``in_shape`` -> one logit. Tal Daniel's EE046202 GAN tutorial (Technion) uses
    ``hidden=(128,), dropout=0.5``."""

    def __init__(self, in_shape=(1, 28, 28), hidden=(128,), dropout=0.0, slope=0.2):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.net = mlp([math.prod(in_shape), *hidden, 1], slope, dropout)

    def forward(self, x):
        _check_input(x, self.in_shape, type(self).__name__)
        return self.net(x.flatten(1)).squeeze(1)

    def features(self, x):
        """The last hidden layer's activations, (N, width): what feature matching compares."""
        _check_input(x, self.in_shape, type(self).__name__)
        return self.net[:-1](x.flatten(1))


class MLPEnsemble(nn.Module):
    """``copies`` independent MLPs of the same ``sizes`` (e.g. several seeds of one GAN), run at once.

    A batch of ``copies * N`` rows is read as ``copies`` consecutive chunks of N: chunk k goes
    through copy k only, with its weights stacked beside the others' and batched matrix
    products (``torch.baddbmm``) doing all copies in one call. Each row's output depends on
    that row alone, so per-sample input gradients (and penalties on them) are those of its
    own copy, and a loss averaged over all rows trains every copy on its own chunk, with its
    gradient scaled by 1 / copies. Adam's update all but ignores that (it is scale-free but
    for its tiny eps); for plain or momentum SGD, multiply the learning rate by ``copies``.

    ``slope`` and ``dropout`` act between the layers as in :func:`mlp`, ``output`` after the
    last (``"tanh"`` for images). Rows are ``in_shape`` samples (flattened on the way in) and
    ``out_shape`` samples on the way out (default: flat). ``squeeze=True`` returns shape
    (copies * N,), one logit per row, as a discriminator does.
    """

    def __init__(self, copies, sizes, slope=0.2, squeeze=False, dropout=0.0, output="none",
                 in_shape=None, out_shape=None):
        super().__init__()
        self.copies, self.slope, self.squeeze, self.dropout = copies, slope, squeeze, dropout
        self.in_shape = tuple(in_shape or (sizes[0],))
        self.out_shape = tuple(out_shape or (sizes[-1],))
        if math.prod(self.in_shape) != sizes[0] or math.prod(self.out_shape) != sizes[-1]:
            raise ValueError(f"in_shape {self.in_shape} and out_shape {self.out_shape} must hold "
                             f"{sizes[0]} and {sizes[-1]} values, the first and last of sizes={sizes}")
        self.in_features = self.z_dim = sizes[0]  # z_dim: read by the training loop for a generator
        self.output = _output(output)
        layers = [[m for m in mlp(sizes, slope) if isinstance(m, nn.Linear)] for _ in range(copies)]
        self.weights = nn.ParameterList(torch.stack([c[j].weight.detach().T for c in layers])
                                        for j in range(len(sizes) - 1))  # (copies, in, out)
        self.biases = nn.ParameterList(torch.stack([c[j].bias.detach()[None] for c in layers])
                                       for j in range(len(sizes) - 1))  # (copies, 1, out)

    def forward(self, x):
        h = self._hidden(x, len(self.weights) - 1)
        h = self.output(torch.baddbmm(self.biases[-1], h, self.weights[-1])).reshape(len(x), *self.out_shape)
        return h.squeeze(1) if self.squeeze else h

    def features(self, x):
        """The last hidden layer's activations, (copies * N, width), rows in the order of ``x``."""
        h = self._hidden(x, len(self.weights) - 1)
        return h.reshape(len(x), h.shape[-1])

    def _hidden(self, x, layers):
        """(copies, N, width): ``x`` through the first ``layers`` layers, each with its activation."""
        if tuple(x.shape[1:]) != self.in_shape or len(x) % self.copies:
            raise ValueError(f"{type(self).__name__} expects input of shape ({self.copies} * N, "
                             f"{', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        h = x.reshape(self.copies, -1, self.in_features)
        for j in range(layers):
            h = nn.functional.leaky_relu(torch.baddbmm(self.biases[j], h, self.weights[j]), self.slope)
            if self.dropout:
                h = nn.functional.dropout(h, self.dropout, self.training)
        return h


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


def one_hot(y, n_classes):
    """Labels (N,) of integers in [0, n_classes) as one-hot rows; anything else is a clear error."""
    if not torch.is_tensor(y) or y.dim() != 1 or y.is_floating_point():
        raise ValueError(f"labels must be a 1D integer tensor, got {type(y).__name__} "
                         f"{tuple(y.shape) if torch.is_tensor(y) else ''}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got values from {y.min().item()} to {y.max().item()}")
    return nn.functional.one_hot(y.long(), n_classes).float()


class ConditionalMLPGenerator(MLPGenerator):
    """Mirza & Osindero 2014: the one-hot label is concatenated to z."""

    def __init__(self, z_dim=100, n_classes=10, hidden=(256,), out_shape=(1, 28, 28), output="tanh", slope=0.2):
        super().__init__(z_dim + n_classes, hidden, out_shape, output, slope)
        self.z_dim, self.n_classes = z_dim, n_classes

    def forward(self, z, y):
        _check_input(z, (self.z_dim,), type(self).__name__)
        return self.net(torch.cat([z, one_hot(y, self.n_classes).to(z.device)], 1)).view(len(z), *self.out_shape)


class ConditionalMLPDiscriminator(MLPDiscriminator):
    """The image, flattened, with the one-hot label appended -> one logit."""

    def __init__(self, in_shape=(1, 28, 28), n_classes=10, hidden=(256,), dropout=0.5, slope=0.2):
        super().__init__(in_shape, hidden, dropout, slope)
        self.n_classes = n_classes
        self.net = mlp([math.prod(in_shape) + n_classes, *hidden, 1], slope, dropout)

    def forward(self, x, y):
        _check_input(x, self.in_shape, type(self).__name__)
        return self.net(torch.cat([x.flatten(1), one_hot(y, self.n_classes).to(x.device)], 1)).squeeze(1)


class ConditionalDCGANGenerator(DCGANGenerator):
    """DCGAN generator whose input is z with the one-hot label appended."""

    def __init__(self, z_dim=100, n_classes=10, width=64, channels=1):
        super().__init__(z_dim + n_classes, width, channels)
        self.z_dim, self.n_classes = z_dim, n_classes

    def forward(self, z, y):
        _check_input(z, (self.z_dim,), type(self).__name__)
        return self.net(torch.cat([z, one_hot(y, self.n_classes).to(z.device)], 1))


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """DCGAN discriminator that sees the label as ``n_classes`` extra constant input channels."""

    def __init__(self, n_classes=10, width=64, channels=1, batch_norm=True):
        super().__init__(width, channels + n_classes, batch_norm)
        self.in_shape, self.n_classes = (channels, 28, 28), n_classes

    def forward(self, x, y):
        _check_input(x, self.in_shape, type(self).__name__)
        planes = one_hot(y, self.n_classes).to(x.device)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.net(torch.cat([x, planes], 1)).squeeze(1)


class InfoGANDiscriminator(DCGANDiscriminator):
    """A DCGAN discriminator with InfoGAN's Q head on the same convolutional body (Chen et al. 2016).

    ``forward(x)`` returns D's logit; ``q(x)`` returns (category logits, continuous-code means).
    """

    def __init__(self, n_categories=10, n_continuous=2, width=64, batch_norm=True):
        super().__init__(width, 1, batch_norm)
        self.n_categories = n_categories
        self.q_head = nn.Sequential(nn.Linear(2 * width * 7 * 7, 128), nn.LeakyReLU(0.2),
                                    nn.Linear(128, n_categories + n_continuous))
        self.q_head.apply(dcgan_init)

    def q(self, x):
        _check_input(x, self.in_shape, type(self).__name__)
        out = self.q_head(self.net[:-1](x))  # every layer of D but its final linear read-out
        return out[:, :self.n_categories], out[:, self.n_categories:]


class QNetwork(nn.Module):
    """InfoGAN's Q as a network of its own, with the discriminator's architecture but separate weights."""

    def __init__(self, n_categories=10, n_continuous=2, width=64):
        super().__init__()
        self.body = InfoGANDiscriminator(n_categories, n_continuous, width)

    def q(self, x):
        return self.body.q(x)


class JSRegularized(nn.Module):
    r"""Any discriminator, wrapped so that it also returns Roth et al.'s per-sample penalty: the
    PyTorch counterpart of the ``Regularizer`` layer of the Keras implementation
    farahmand-m/regularized-gan ("Regularized GAN", https://github.com/farahmand-m/regularized-gan),
    for training loops of your own.

    ``wrapped(x)`` is the plain discriminator (for the generator step). ``wrapped(x, target)``,
    with target 1 for real and 0 for generated samples, returns ``(logits, penalties)``: the
    logits as the discriminator returns them and the penalties of shape (N,), where

    .. math:: \text{penalties}_i = (\sigma(l_i) - \text{target})^2\, \|\nabla_x l(x_i)\|^2,

    so that ``penalties.mean()`` of the real batch plus that of the fake batch is
    :func:`regan_tutorial.losses.js_regularizer`, and the discriminator loss adds
    :math:`\tfrac{\gamma}{2}` times it. The Keras layer returned :math:`\sigma(l)`; this returns the
    logits, which the course's losses take (they stay finite where :math:`\log \sigma(l)` does not).
    """

    def __init__(self, discriminator):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x, target=None):
        if target is None:
            return self.discriminator(x)
        if target not in (0, 1):
            raise ValueError(f"target must be 1 (real samples) or 0 (generated samples), got {target!r}")
        if not x.requires_grad:  # e.g. a real batch, or fakes made under no_grad: differentiate w.r.t. a copy
            x = x.detach().requires_grad_(True)
        logits = self.discriminator(x)
        flat = per_sample(logits, len(x))  # penalties (N,) whether D returns (N,) or (N, 1)
        return logits, (torch.sigmoid(flat) - target).pow(2) * input_gradient_norm2(flat, x)


def spectral_normalized(module):
    """Spectral normalization (Miyato et al. 2018) on every linear and convolutional layer of ``module``,
    in place, e.g. ``spectral_normalized(nets.DCGANDiscriminator(batch_norm=False))`` or a network of
    your own: each weight is divided by its largest singular value, estimated by one power iteration
    per forward pass in training mode. This is PyTorch's ``torch.nn.utils.parametrizations.spectral_norm``."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


class _CopywiseSpectralNorm(nn.Module):
    """A parametrization of stacked weights (copies, in, out): each copy's matrix divided by its own
    largest singular value, estimated by power iteration as ``torch.nn.utils.parametrizations.spectral_norm``
    does for one matrix (Miyato et al. 2018, Algorithm 1: one iteration per forward pass in training mode)."""

    def __init__(self, weight, n_power_iterations=1, eps=1e-12):
        super().__init__()
        copies, n_in, n_out = weight.shape
        self.n_power_iterations, self.eps = n_power_iterations, eps
        u, v = torch.randn(copies, n_in), torch.randn(copies, n_out)
        self.register_buffer("_u", nn.functional.normalize(u, dim=1, eps=eps))
        self.register_buffer("_v", nn.functional.normalize(v, dim=1, eps=eps))

    def forward(self, weight):
        if self.training:
            with torch.no_grad():  # as torch's: the singular vectors are constants for autograd
                for _ in range(self.n_power_iterations):
                    self._v.copy_(nn.functional.normalize(torch.einsum("ci,cio->co", self._u, weight), dim=1,
                                                          eps=self.eps))
                    self._u.copy_(nn.functional.normalize(torch.einsum("cio,co->ci", weight, self._v), dim=1,
                                                          eps=self.eps))
        u, v = self._u.clone(), self._v.clone()  # as torch's: the next forward's iteration must not edit this graph
        sigma = torch.einsum("ci,cio,co->c", u, weight, v)  # (copies,): each copy's sigma_max
        return weight / sigma[:, None, None]


def ensemble_spectral_normalized(ensemble, n_power_iterations=1):
    """Spectral normalization of every layer of an :class:`MLPEnsemble`, copy by copy, in place.

    ``torch.nn.utils.parametrizations.spectral_norm`` would treat a stacked (copies, in, out) weight as
    one matrix and divide all copies by one number; this registers, through the same
    ``torch.nn.utils.parametrize`` machinery, a per-copy power iteration instead."""
    from torch.nn.utils import parametrize

    for j, weight in enumerate(list(ensemble.weights)):
        parametrize.register_parametrization(ensemble.weights, str(j),
                                             _CopywiseSpectralNorm(weight.detach(), n_power_iterations))
    return ensemble


class Packed(nn.Module):
    """PacGAN's packing (Lin et al. 2018): the discriminator judges ``m`` samples at once, all real or
    all generated, concatenated into one input; ``packed(x)`` of (N, d) returns N / m logits.

    Consecutive rows are packed, so with an :class:`MLPEnsemble` of input size m * d each pack stays
    within one copy's chunk (N per copy must be a multiple of m)."""

    def __init__(self, discriminator, m=2):
        super().__init__()
        self.discriminator, self.m = discriminator, m

    def forward(self, x):
        if len(x) % self.m:
            raise ValueError(f"{len(x)} samples cannot be packed in groups of {self.m}: pass a multiple of {self.m}")
        return self.discriminator(x.reshape(len(x) // self.m, self.m * x[0].numel()))
