import pytest
import torch

from regan_tutorial.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("output,lo,hi", [("tanh", -1, 1), ("sigmoid", 0, 1)])
def test_mlp_generator_shape_and_range(output, lo, hi):
    g = MLPGenerator(z_dim=10, hidden=(32,), out_shape=(1, 28, 28), output=output)
    x = g(3 * torch.randn(64, 10))
    assert x.shape == (64, 1, 28, 28) and x.min() >= lo and x.max() <= hi


def test_toy_nets_shapes():
    g, d = MLPGenerator(2, (16, 16), (2,), output="none"), MLPDiscriminator((2,), (16, 16))
    assert g(torch.randn(5, 2)).shape == (5, 2) and d(torch.randn(5, 2)).shape == (5,)


def test_dcgan_shapes_range_and_init():
    g, d = DCGANGenerator(z_dim=100, width=16), DCGANDiscriminator(width=16)
    x = g(torch.randn(8, 100))
    assert x.shape == (8, 1, 28, 28) and x.abs().max() <= 1
    assert d(x).shape == (8,)
    conv = d.net[0].weight
    assert conv.mean().abs() < 0.01 and 0.015 < conv.std() < 0.025  # N(0, 0.02)
    assert DCGANDiscriminator(width=16, batch_norm=False)(x).shape == (8,)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in DCGANDiscriminator(batch_norm=False).modules())


@pytest.mark.parametrize("net,bad", [
    (MLPDiscriminator(), torch.randn(4, 784)),
    (DCGANDiscriminator(width=8), torch.randn(4, 1, 32, 32)),
    (MLPGenerator(z_dim=100), torch.randn(4, 64)),
    (DCGANGenerator(z_dim=100, width=8), torch.randn(4, 100, 1, 1)),
])
def test_wrong_input_shapes_are_refused(net, bad):
    with pytest.raises(ValueError, match="expects input of shape"):
        net(bad)


def test_unknown_output_lists_valid_names():
    with pytest.raises(ValueError, match="tanh, sigmoid, none"):
        MLPGenerator(output="relu")
