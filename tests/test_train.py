import copy

import pytest
import torch

from regan_tutorial.losses import discriminator_loss
from regan_tutorial.nets import MLPDiscriminator, MLPGenerator
from regan_tutorial.train import fit_discriminator, load_checkpoint, sample_z, train


def setup(seed=0):
    torch.manual_seed(seed)
    g, d = MLPGenerator(4, (16,), (2,), output="none"), MLPDiscriminator((2,), (16,))
    return g, d, torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)


DATA = torch.randn(256, 2) + 3


def run(steps, checkpoint=None, seed=0, **kw):
    g, d, g_opt, d_opt = setup(seed)
    h = train(g, d, DATA, steps=steps, batch_size=32, g_opt=g_opt, d_opt=d_opt, checkpoint=checkpoint,
              progress=False, **kw)
    return g, d, h


def test_one_step_changes_both_networks():
    g0, d0, _, _ = setup()
    g, d, h = run(1)
    for before, after in ((g0, g), (d0, d)):
        assert any(not torch.equal(p, q) for p, q in zip(before.parameters(), after.parameters()))
    assert len(h.d_loss) == len(h.g_loss) == len(h.seconds) == 1


def test_discriminator_step_lowers_its_loss_on_a_fixed_batch():
    g, d, _, d_opt = setup()
    x_real, x_fake = DATA[:64], g(torch.randn(64, 4)).detach()
    before = discriminator_loss(d(x_real), d(x_fake)).item()
    for _ in range(5):
        loss = discriminator_loss(d(x_real), d(x_fake))
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
    assert discriminator_loss(d(x_real), d(x_fake)).item() < before


def test_runs_repeat_exactly_with_a_seed():
    (g1, _, h1), (g2, _, h2) = run(20), run(20)
    assert h1.d_loss == h2.d_loss and all(torch.equal(p, q) for p, q in zip(g1.parameters(), g2.parameters()))


def interrupt_at(step):
    """A snapshot function that stops the run (as a kernel interrupt would) when step ``step`` is reached."""
    calls = iter(range(10**6))

    def snapshot(g, d):
        if next(calls) == step:
            raise KeyboardInterrupt
        return torch.zeros(())
    return snapshot


def test_resume_from_checkpoint_equals_an_uninterrupted_run(tmp_path):
    g_full, d_full, h_full = run(30)
    ck = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):  # interrupted after the checkpoint at step 12
        run(30, checkpoint=ck, checkpoint_every=12, snapshot=interrupt_at(13), snapshot_every=1)
    g, d, h = run(30, checkpoint=ck)  # resumes from step 12
    assert h.step == list(range(1, 31))
    assert h.d_loss == pytest.approx(h_full.d_loss, abs=0)
    for p, q in zip([*g.parameters(), *d.parameters()], [*g_full.parameters(), *d_full.parameters()]):
        assert torch.equal(p, q)


def test_snapshots_are_taken_at_the_requested_steps():
    _, _, h = run(10, snapshot=lambda g, d: g(torch.zeros(1, 4)), snapshot_every=4)
    assert [s for s, _ in h.snapshots] == [0, 4, 8, 10]


def test_nan_stops_training_with_a_clear_message():
    g, d, g_opt, d_opt = setup()
    with torch.no_grad():
        d.net[0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="diverged at step 1: the discriminator's loss is nan; the weights were not updated"):
        train(g, d, DATA, steps=5, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)


def test_tampered_and_foreign_checkpoints_are_refused(tmp_path):
    ck = tmp_path / "run.pt"
    run(3, checkpoint=ck)
    args = lambda: (*setup()[:2], *setup()[2:], torch.Generator(), __import__("regan_tutorial.train").train.History())
    blob = bytearray(ck.read_bytes())
    blob[len(blob) // 2: len(blob) // 2 + 64] = b"\x00" * 64
    (tmp_path / "bad.pt").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="not a readable checkpoint|damaged or was modified"):
        load_checkpoint(tmp_path / "bad.pt", *args())
    state = torch.load(ck, weights_only=True)  # a deliberate edit of one weight
    state["generator"]["net.0.0.weight"][0, 0] += 1
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="damaged or was modified"):
        load_checkpoint(tmp_path / "edited.pt", *args())
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint of this version"):
        load_checkpoint(tmp_path / "other.pt", *args())

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"format": "x", "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable checkpoint"):  # weights_only refuses it
        load_checkpoint(tmp_path / "evil.pt", *args())
    g, d, g_opt, d_opt = setup()
    wide = MLPGenerator(4, (32,), (2,), output="none")
    with pytest.raises(ValueError, match="does not fit"):
        load_checkpoint(ck, wide, d, torch.optim.Adam(wide.parameters()), d_opt, torch.Generator(),
                        __import__("regan_tutorial.train").train.History())


def test_uniform_prior_and_unknown_prior():
    z = sample_z(1000, 3, "uniform", torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.shape == (1000, 3)
    with pytest.raises(ValueError, match="normal, uniform"):
        sample_z(2, 2, "cauchy")


def test_fit_discriminator_approaches_the_optimal_logit():
    torch.manual_seed(0)
    d = MLPDiscriminator((1,), (32, 32))
    x_real, x_fake = torch.randn(2000, 1), torch.randn(2000, 1) + 2
    fit_discriminator(d, x_real, x_fake, steps=300, lr=5e-3)
    # optimal logit log N(x; 0, 1) - log N(x; 2, 1) = 2 - 2x
    x = torch.tensor([[0.0], [1.0], [2.0]])
    assert d(x).detach() == pytest.approx(torch.tensor([2.0, 0.0, -2.0]), abs=0.35)




def test_toy_gan_ensembles_repeat_and_train_to_a_step_or_time_budget():
    from regan_tutorial.data import ring
    from regan_tutorial.studies import train_toy_gans

    first, again = (train_toy_gans(ring(), copies=3, steps=20, n_eval=100, progress=False) for _ in range(2))
    assert first.history.d_loss == again.history.d_loss and len(first.coverage) == 3
    with torch.no_grad():
        out = first.generator(torch.randn(100, 2).repeat(3, 1)).view(3, 100, 2)
    assert not torch.allclose(out[0], out[1])  # each copy has its own weights
    timed = train_toy_gans(ring(), copies=2, steps=None, max_seconds=0.5, n_eval=100, progress=False)
    assert len(timed.history.step) > 0 and 0.5 <= timed.history.seconds[-1] < 5
