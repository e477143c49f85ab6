import pytest
import torch

from regan_tutorial import losses, nets
from regan_tutorial.train import InfoGANCode, train


@pytest.mark.parametrize("g,d", [
    (nets.ConditionalMLPGenerator(z_dim=8, hidden=(16,)), nets.ConditionalMLPDiscriminator(hidden=(16,))),
    (nets.ConditionalDCGANGenerator(z_dim=8, width=8), nets.ConditionalDCGANDiscriminator(width=8)),
])
def test_conditional_nets_shapes_and_that_the_label_matters(g, d):
    z, y = torch.randn(6, 8), torch.arange(6)
    x = g(z, y)
    assert x.shape == (6, 1, 28, 28) and x.abs().max() <= 1
    assert d(x, y).shape == (6,)
    g.eval()
    d.eval()
    assert not torch.allclose(g(z, y), g(z, (y + 1) % 10))
    assert not torch.allclose(d(x, y), d(x, (y + 1) % 10))


@pytest.mark.parametrize("bad,words", [
    (torch.tensor([0, 10]), r"0\.\.9"),
    (torch.tensor([-1, 3]), r"0\.\.9"),
    (torch.tensor([0.0, 1.0]), "integer"),
    (torch.tensor([[1, 2]]), "1D"),
])
def test_labels_out_of_range_are_refused(bad, words):
    g = nets.ConditionalMLPGenerator(z_dim=4, hidden=(8,))
    with pytest.raises(ValueError, match=words):
        g(torch.randn(len(bad), 4), bad)
    d = nets.ConditionalDCGANDiscriminator(width=4)
    with pytest.raises(ValueError, match=words):
        d(torch.zeros(len(bad), 1, 28, 28), bad)


def test_conditional_training_step_runs_with_labels():
    torch.manual_seed(0)
    g, d = nets.ConditionalMLPGenerator(z_dim=8, hidden=(16,)), nets.ConditionalMLPDiscriminator(hidden=(16,))
    data, labels = torch.rand(64, 1, 28, 28) * 2 - 1, torch.randint(10, (64,))
    h = train(g, d, data, labels=labels, steps=3, batch_size=8, progress=False,
              g_opt=torch.optim.Adam(g.parameters()), d_opt=torch.optim.Adam(d.parameters()))
    assert len(h.d_loss) == 3


def test_mutual_information_loss_is_minimal_for_a_perfect_q():
    category, continuous = torch.tensor([3, 0, 7]), torch.tensor([[0.5, -0.2], [0.1, 0.9], [-1.0, 0.0]])
    perfect = 50 * torch.nn.functional.one_hot(category, 10).float()
    best = losses.mutual_information_loss(perfect, continuous, category, continuous)
    assert best.item() == pytest.approx(0.0, abs=1e-6)
    for _ in range(20):
        logits, mean = perfect + torch.randn(3, 10), continuous + 0.1 * torch.randn(3, 2)
        assert losses.mutual_information_loss(logits, mean, category, continuous) > best
    # uninformative Q: log 10 for the category
    uniform = losses.mutual_information_loss(torch.zeros(3, 10), continuous, category, continuous)
    assert uniform.item() == pytest.approx(torch.log(torch.tensor(10.0)).item())


def test_infogan_code_layout_and_q_heads():
    code = InfoGANCode(noise_dim=5)
    z = code(4, torch.Generator().manual_seed(0), category=torch.tensor([1, 2, 3, 4]))
    noise, category, continuous = code.split(z)
    assert z.shape == (4, 17) and category.tolist() == [1, 2, 3, 4] and continuous.abs().max() <= 1
    d = nets.InfoGANDiscriminator(width=8)
    logits, mean = d.q(torch.zeros(4, 1, 28, 28))
    assert logits.shape == (4, 10) and mean.shape == (4, 2) and d(torch.zeros(4, 1, 28, 28)).shape == (4,)
    assert nets.QNetwork(width=8).q(torch.zeros(2, 1, 28, 28))[0].shape == (2, 10)


def test_classifier_variant_trains_the_classifier_on_real_labels_and_keeps_d_unconditional():
    from regan_tutorial.metrics import DigitClassifier

    torch.manual_seed(0)
    g, d, c = nets.ConditionalMLPGenerator(z_dim=8, hidden=(16,)), nets.MLPDiscriminator(hidden=(16,)), DigitClassifier()
    data, labels = torch.rand(64, 1, 28, 28) * 2 - 1, torch.randint(10, (64,))
    before = [p.clone() for p in c.parameters()]
    h = train(g, d, data, labels=labels, classifier=c, steps=2, batch_size=8, progress=False,
              g_opt=torch.optim.Adam(g.parameters()), d_opt=torch.optim.Adam([*d.parameters(), *c.parameters()]))
    assert any(not torch.equal(a, b) for a, b in zip(before, c.parameters()))
    assert h.d_terms["label"][-1] > 0 and h.g_terms["label"][-1] > 0  # cross-entropy on real and on fakes
    assert set(h.d_terms) == {"label"}
