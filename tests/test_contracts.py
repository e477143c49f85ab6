"""The package used from outside the book: users' shapes, exact repeats, safe resume, clear errors."""

import copy
import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from regan_tutorial import losses, nets
from regan_tutorial.nets import MLPDiscriminator, MLPGenerator
from regan_tutorial import train as loop
from regan_tutorial.train import AnnealedGamma, train

from test_js_regularizer import reference


def js_reference(d, x_real, x_fake):
    """The regularizer one sample at a time, in float64, on a copy of ``d``."""
    return reference(copy.deepcopy(d).double(), x_real.double(), x_fake.double()).item()


class Shaped(nn.Module):
    """A user's discriminator: the package's MLP, with its logits reshaped to ``shape`` (N, 1), (N, 1, 1, 1)."""

    def __init__(self, d, *shape):
        super().__init__()
        self.d, self.shape = d, shape

    def forward(self, x, *y):
        return self.d(x, *y).view(len(x), *self.shape)


SHAPES = [(), (1,), (1, 1, 1)]


def batches(seed=0, n_real=6, n_fake=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_real, 3, generator=g).requires_grad_(True), torch.randn(n_fake, 3, generator=g).requires_grad_(True)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_loss_and_penalty_takes_one_logit_per_sample_in_any_shape(shape):
    torch.manual_seed(0)
    d = MLPDiscriminator((3,), (8,))
    user = Shaped(d, *shape)
    x_real, x_fake = batches()
    flat = lambda f: f(d(x_real), d(x_fake))
    shaped = lambda f: f(user(x_real), user(x_fake))
    for fn in (losses.discriminator_loss, losses.critic_loss_wasserstein):
        assert shaped(fn).item() == pytest.approx(flat(fn).item(), rel=1e-6)
    for fn in (losses.generator_loss_saturating, losses.generator_loss_nonsaturating, losses.generator_loss_wasserstein):
        assert fn(user(x_fake)).item() == pytest.approx(fn(d(x_fake)).item(), rel=1e-6)
    js = losses.js_regularizer(user(x_real), x_real, user(x_fake), x_fake)
    assert js.dim() == 0 and js.item() == pytest.approx(js_reference(d, x_real, x_fake), rel=1e-5)
    r1 = losses.r1_regularizer(user(x_real), x_real)
    assert r1.item() == pytest.approx(losses.r1_regularizer(d(x_real), x_real).item(), rel=1e-6)
    gp = [losses.gradient_penalty(c, x_real[:5], x_fake, generator=torch.Generator().manual_seed(1)) for c in (d, user)]
    assert gp[1].item() == pytest.approx(gp[0].item(), rel=1e-6)
    logits, penalties = nets.JSRegularized(user)(x_real, 1)
    assert penalties.shape == (6,) and logits.shape == (6, *shape)


def test_js_regularizer_with_n_by_1_logits_was_an_n_by_n_matrix_and_is_now_the_reference():
    torch.manual_seed(0)
    d = MLPDiscriminator((3,), (8,))
    x_real, x_fake = batches(n_real=7, n_fake=7)
    user = Shaped(d, 1)
    got = losses.js_regularizer(user(x_real), x_real, user(x_fake), x_fake).item()
    assert got == pytest.approx(js_reference(d, x_real, x_fake), rel=1e-5)


@pytest.mark.parametrize("bad", [torch.zeros(6, 2), torch.zeros(()), torch.zeros(5)])
def test_logits_that_are_not_one_per_sample_are_refused_with_their_shape(bad):
    x_real, x_fake = batches()
    with pytest.raises(ValueError, match=r"\(" + ", ".join(map(str, bad.shape))):
        losses.js_regularizer(bad, x_real, torch.zeros(5), x_fake)


def test_gradient_penalty_refuses_a_critic_that_returns_the_batch_mean():
    torch.manual_seed(0)
    d = MLPDiscriminator((3,), (8,))
    with pytest.raises(ValueError, match="per-sample scores, not their mean"):
        losses.gradient_penalty(lambda x: d(x).mean(), torch.randn(4, 3), torch.randn(4, 3))


def readme_snippet(discriminator, seed=0):
    """The README's call, on a 2D GAN."""
    torch.manual_seed(seed)
    generator = MLPGenerator(2, (8,), (2,), output="none")
    g_opt, d_opt = (torch.optim.Adam(m.parameters(), 1e-3) for m in (generator, discriminator))
    steps = 3
    train(generator, discriminator, torch.randn(64, 2), steps=steps, batch_size=16, g_opt=g_opt, d_opt=d_opt,
          regularizer=losses.js_regularizer, gamma=AnnealedGamma(2.0, steps), progress=False)
    return generator


def test_readme_snippet_with_n_by_1_logits_trains_as_with_one_logit_per_sample():
    torch.manual_seed(1)
    d = MLPDiscriminator((2,), (8,))
    d_user = copy.deepcopy(d)
    g_flat, g_user = readme_snippet(d), readme_snippet(Shaped(d_user, 1))
    for p, q in zip([*g_flat.parameters(), *d.parameters()], [*g_user.parameters(), *d_user.parameters()]):
        assert torch.allclose(p, q, atol=1e-6)


def small_gan(dropout=0.5, seed=0):
    torch.manual_seed(seed)
    g = MLPGenerator(4, (16,), (2,), output="none")
    d = MLPDiscriminator((2,), (16,), dropout=dropout)
    return g, d, torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)


DATA = torch.randn(256, 2) + 3


def run(steps=8, rng_noise=0, **kw):
    """A small GAN trained with seed 3; ``rng_noise`` random numbers are drawn just before training."""
    g, d, g_opt, d_opt = small_gan()
    torch.rand(rng_noise)
    return train(g, d, DATA, steps=steps, batch_size=32, g_opt=g_opt, d_opt=d_opt, progress=False, seed=3, **kw)


@pytest.mark.parametrize("options", [
    {},  # dropout in D
    dict(penalty=losses.gradient_penalty),  # random interpolates
    dict(regularizer=losses.js_regularizer, gamma=1.0),
], ids=["dropout", "gradient penalty", "js regularizer"])
def test_a_seed_repeats_a_cpu_run_bit_for_bit_whatever_ran_before(options):
    first = run(**options)
    second = run(rng_noise=1000, **options)  # whatever the user did before training
    assert first.d_loss == second.d_loss and first.g_loss == second.g_loss and first.d_terms == second.d_terms
    g, d, g_opt, d_opt = small_gan()
    state = torch.get_rng_state()
    train(g, d, DATA, steps=3, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, **options)
    assert torch.equal(torch.get_rng_state(), state)  # the user's random numbers are left as they were


def test_resume_with_other_settings_is_refused_naming_what_differs(tmp_path):
    ck = tmp_path / "run.pt"
    run(checkpoint=ck)
    g, d, _, d_opt = small_gan()
    g_opt = torch.optim.Adam(g.parameters(), 1e-4)  # "lower the learning rate and start again"
    before = [p.clone() for p in g.parameters()]
    with pytest.raises(ValueError, match=r"g_opt.*'lr': 0\.001.*'lr': 0\.0001.*delete the file or pass another"):
        train(g, d, DATA, steps=8, batch_size=32, g_opt=g_opt, d_opt=d_opt, checkpoint=ck, progress=False, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(before, g.parameters()))
    with pytest.raises(ValueError, match="batch_size: 32 in the checkpoint, 16 now"):
        g, d, g_opt, d_opt = small_gan()
        train(g, d, DATA, steps=8, batch_size=16, g_opt=g_opt, d_opt=d_opt, checkpoint=ck, progress=False, seed=3)
    with pytest.raises(ValueError, match="penalty"):
        run(checkpoint=ck, penalty=losses.gradient_penalty)


def test_resume_with_dropout_and_a_penalty_equals_an_uninterrupted_run(tmp_path):
    full = run(steps=12, penalty=losses.gradient_penalty)
    ck = tmp_path / "run.pt"
    calls = iter(range(100))

    def interrupt(g, d):
        if next(calls) == 7:
            raise KeyboardInterrupt
        return torch.zeros(())

    with pytest.raises(KeyboardInterrupt):
        run(steps=12, penalty=losses.gradient_penalty, checkpoint=ck, checkpoint_every=5, snapshot=interrupt,
            snapshot_every=1)
    resumed = run(steps=12, penalty=losses.gradient_penalty, checkpoint=ck)
    assert resumed.step == list(range(1, 13)) and resumed.d_loss == full.d_loss
    assert resumed.d_terms["penalty"] == full.d_terms["penalty"]


def test_an_unwritable_checkpoint_folder_is_refused_before_the_first_step(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    g, d, g_opt, d_opt = small_gan()
    before = [p.clone() for p in g.parameters()]
    with pytest.raises(ValueError, match="cannot write the checkpoint into .*file"):
        train(g, d, DATA, steps=5, batch_size=8, g_opt=g_opt, d_opt=d_opt, checkpoint=tmp_path / "file" / "run.pt")
    assert all(torch.equal(p, q) for p, q in zip(before, g.parameters()))
    with pytest.raises(ValueError, match="is a folder"):
        run(checkpoint=tmp_path)


def test_a_snapshot_a_checkpoint_cannot_restore_is_refused_when_first_taken(tmp_path):
    class Picture:  # e.g. a matplotlib figure
        pass

    with pytest.raises(ValueError, match="snapshot at step 0 holds a Picture"):
        run(checkpoint=tmp_path / "run.pt", snapshot=lambda g, d: [Picture()], snapshot_every=4)
    assert not (tmp_path / "run.pt").exists()


def nan_from(step):
    """A term that is 0 for its first step - 1 calls, then nan."""
    calls = []

    def term(*args):
        calls.append(1)
        return torch.tensor(float("nan") if len(calls) >= step else 0.0, requires_grad=True)
    return term


@pytest.mark.parametrize("options,words", [
    (dict(regularizer=nan_from(3), gamma=1.0), "discriminator's regularizer is nan"),
    (dict(g_loss=nan_from(3)), "generator's loss is nan"),
])
def test_nan_stops_before_it_reaches_the_weights_and_names_the_term(options, words):
    g, d, g_opt, d_opt = small_gan()
    after = []
    with pytest.raises(FloatingPointError, match=f"diverged at step 3: the {words}; the weights were not updated"):
        train(g, d, DATA, steps=10, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False,
              snapshot=lambda g, d: after.append([p.clone() for p in g.parameters()]) or 0, snapshot_every=1, **options)
    assert all(torch.isfinite(p).all() for p in [*g.parameters(), *d.parameters()])
    assert all(torch.equal(p, q) for p, q in zip(after[-1], g.parameters()))  # G as after step 2


@pytest.mark.parametrize("options,words", [
    (dict(d_steps=0), "d_steps must be an integer >= 1"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(steps=None), "pass steps="),
    (dict(gamma=1.0), "pass regularizer="),
    (dict(regularizer=losses.js_regularizer), "pass gamma="),
    (dict(classifier=nn.Linear(2, 10)), "pass labels="),
    (dict(labels=torch.zeros(256, dtype=torch.long), penalty=losses.gradient_penalty), "conditional"),
    (dict(labels=torch.zeros(3, dtype=torch.long)), "3 labels for 256 samples"),
    (dict(snapshot_every=5), "needs snapshot="),
])
def test_options_that_cannot_work_are_refused_before_training(options, words):
    g, d, g_opt, d_opt = small_gan()
    kw = dict(steps=3, batch_size=8) | options
    with pytest.raises(ValueError, match=words):
        train(g, d, DATA, g_opt=g_opt, d_opt=d_opt, progress=False, **kw)


def test_swapped_optimisers_a_data_loader_and_a_network_on_another_device_are_refused():
    g, d, g_opt, d_opt = small_gan()
    before = [p.clone() for p in [*g.parameters(), *d.parameters()]]
    with pytest.raises(ValueError, match="g_opt holds none of the generator's parameters"):
        train(g, d, DATA, steps=3, batch_size=8, g_opt=d_opt, d_opt=g_opt, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(before, [*g.parameters(), *d.parameters()]))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(DATA), batch_size=8)
    with pytest.raises(TypeError, match="got a DataLoader"):
        train(g, d, loader, steps=3, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)
    d = d.to("meta")  # any device but the data's
    with pytest.raises(ValueError, match="the discriminator is on meta and the data on cpu"):
        train(g, d, DATA, steps=3, batch_size=8, g_opt=g_opt, d_opt=torch.optim.Adam(d.parameters()), progress=False)


def test_each_term_is_recorded_under_its_own_name():
    h = run(penalty=losses.gradient_penalty, info_loss=lambda x, z: 0.0 * x.sum() + 0.25)
    assert set(h.d_terms) == {"penalty", "info"} and set(h.g_terms) == {"info"}
    assert h.d_terms["info"] == [0.25] * 8 and all(v > 0 for v in h.d_terms["penalty"])


def test_the_generator_step_gives_the_discriminator_no_gradient_and_restores_its_flags():
    g, d, g_opt, d_opt = small_gan()
    d.net[0].weight.requires_grad_(False)  # a user's frozen layer stays frozen
    loop.generator_step(g, d, g_opt, torch.randn(8, 4), frozen=list(d.parameters()))
    assert all(p.grad is None for p in d.parameters())
    assert [p.requires_grad for p in d.parameters()] == [False, True, True, True]
    assert all(p.grad is not None for p in g.parameters())


def test_training_puts_both_networks_in_training_mode_and_snapshots_in_eval_mode():
    g, d, g_opt, d_opt = small_gan()
    g.eval(), d.eval()  # e.g. left so by an evaluation cell
    modes = []
    train(g, d, DATA, steps=3, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False,
          snapshot=lambda g, d: modes.append((g.training, d.training)) or 0, snapshot_every=1)
    assert modes == [(False, False)] * 4 and g.training and d.training


def test_a_time_budget_stops_the_run_and_the_progress_bar_ends_complete(monkeypatch, capsys):
    clock = iter(range(10**6))
    monkeypatch.setattr(loop.time, "perf_counter", lambda: 0.1 * next(clock))  # 0.1 s per call
    h = run(steps=None, max_seconds=1.0, snapshot=lambda g, d: 0, snapshot_every=10**6)
    assert 1.0 <= h.seconds[-1] < 1.2 and h.snapshots[-1][0] == h.step[-1]
    g, d, g_opt, d_opt = small_gan()
    train(g, d, DATA, steps=None, max_seconds=1.0, batch_size=8, g_opt=g_opt, d_opt=d_opt)
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in err and "1/1 s of the time budget" in err, err


def test_tqdm_disable_hides_the_live_bar_and_keeps_the_summary_line(monkeypatch, capsys):
    """What the book's execute sets: a static page gets the one-line summary, no bar."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    g, d, g_opt, d_opt = small_gan()
    train(g, d, DATA, steps=5, batch_size=8, g_opt=g_opt, d_opt=d_opt)
    out = capsys.readouterr()
    assert "%|" not in out.err + out.out and out.out.startswith("trained 5 steps in"), out


def test_history_state_round_trips_the_named_terms():
    h = loop.History()
    h.record(1, 0.5, {"loss": 1.0, "penalty": 2.0}, {"loss": 3.0})
    copy_ = loop.History(**h.state())
    assert copy_.d_terms == {"penalty": [2.0]} and copy_.g_loss == [3.0]


# The second outside review: overlapping optimisers, what a checkpoint keeps, what it can tell apart


def params(*nets):
    return [p.detach().clone() for net in nets for p in net.parameters()]


def test_one_optimiser_for_both_networks_or_a_d_opt_holding_g_trains_as_two_optimisers_do():
    """Adam is per parameter, so one Adam over both networks is two Adams: each step must move its own player."""
    g, d, g_opt, d_opt = small_gan()
    train(g, d, DATA, steps=4, batch_size=32, g_opt=g_opt, d_opt=d_opt, progress=False)
    expected = params(g, d)
    g, d, _, _ = small_gan()
    start = params(g)
    shared = torch.optim.Adam([*g.parameters(), *d.parameters()], 1e-3)
    train(g, d, DATA, steps=4, batch_size=32, g_opt=shared, d_opt=shared, progress=False)
    assert not all(torch.equal(p, q) for p, q in zip(start, params(g)))  # G moved: it was frozen in its own step
    assert all(torch.equal(p, q) for p, q in zip(expected, params(g, d)))
    g, d, g_opt, _ = small_gan()
    d_opt = torch.optim.Adam([*d.parameters(), *g.parameters()], 1e-3)  # as InfoGAN code often builds it
    train(g, d, DATA, steps=4, batch_size=32, g_opt=g_opt, d_opt=d_opt, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(expected, params(g, d)))


def conditional_gan(classifier_in_d_opt=True, seed=0):
    torch.manual_seed(seed)
    g = nets.ConditionalMLPGenerator(4, n_classes=3, hidden=(16,), out_shape=(2,), output="none")
    d, c = MLPDiscriminator((2,), (16,)), nn.Linear(2, 3)
    d_opt = torch.optim.Adam([*d.parameters(), *(c.parameters() if classifier_in_d_opt else [])], 1e-3)
    return g, d, c, torch.optim.Adam(g.parameters(), 1e-3), d_opt


LABELS = torch.arange(256) % 3


def test_a_classifier_its_optimiser_does_not_hold_is_refused():
    g, d, c, g_opt, d_opt = conditional_gan(classifier_in_d_opt=False)
    with pytest.raises(ValueError, match=r"d_opt does not hold 2 trainable parameters of the classifier \(weight, "
                                         r"bias\), which would never be trained.*\*classifier.parameters\(\)"):
        train(g, d, DATA, labels=LABELS, classifier=c, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)


def conditional_run(steps=8, **kw):
    g, d, c, g_opt, d_opt = conditional_gan()
    h = train(g, d, DATA, labels=LABELS, classifier=c, steps=steps, batch_size=16, g_opt=g_opt, d_opt=d_opt,
              progress=False, seed=3, **kw)
    return h, params(g, d, c)


def interrupt_after(n):
    calls = iter(range(10**6))

    def snapshot(g, d):
        if next(calls) == n:
            raise KeyboardInterrupt
        return 0
    return snapshot


def info_term(x_fake, z, q):
    """A stand-in for InfoGAN's term: Q (a network of its own, trained by d_opt) reads z back from x."""
    return (q(x_fake) - z[:, :1]).pow(2).mean()


def info_run(tmp_path=None, steps=8, **kw):
    g, d, g_opt, _ = small_gan(dropout=0)
    q = nn.Linear(2, 1)
    d_opt = torch.optim.Adam([*d.parameters(), *q.parameters()], 1e-3)
    h = train(g, d, DATA, steps=steps, batch_size=16, g_opt=g_opt, d_opt=d_opt, progress=False, seed=3,
              info_loss=functools.partial(info_term, q=q), **kw)
    return h, params(g, d, q)


@pytest.mark.parametrize("run_", [conditional_run, info_run], ids=["classifier", "separate Q network"])
def test_resume_keeps_the_classifier_and_a_separate_q_network(run_, tmp_path):
    full, expected = run_()
    ck = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        run_(checkpoint=ck, checkpoint_every=4, snapshot=interrupt_after(6), snapshot_every=1)
    resumed, found = run_(checkpoint=ck)
    assert resumed.step == full.step and resumed.d_loss == full.d_loss
    assert all(torch.equal(p, q) for p, q in zip(expected, found))  # the classifier or Q too, not restarted


def test_a_network_only_an_optimiser_knows_cannot_be_checkpointed(tmp_path):
    g, d, g_opt, _ = small_gan()
    q = nn.Linear(2, 1)
    d_opt = torch.optim.Adam([*d.parameters(), *q.parameters()], 1e-3)  # used by nothing the loop can see
    with pytest.raises(ValueError, match=r"d_opt trains 2 parameters \(shapes \[\(1, 2\), \(1,\)\]\) of no network the "
                                         "checkpoint keeps"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, checkpoint=tmp_path / "run.pt")
    assert not (tmp_path / "run.pt").exists()


def make_gamma(value):
    def gamma(t):
        return value
    return gamma


class CyclicPrior:
    """A prior object that refers to itself (e.g. through a parent that holds it)."""

    def __init__(self):
        self.me = self

    def __call__(self, n, rng):
        return torch.randn(n, 4, generator=rng)


@pytest.mark.parametrize("options,why", [
    (dict(regularizer=losses.js_regularizer, gamma=lambda t: 2.0), "gamma= is a lambda"),
    (dict(prior=CyclicPrior()), "prior= is an object nested too deeply to identify"),
    (dict(regularizer=losses.js_regularizer, gamma=make_gamma(2.0)), r"gamma= is a closure \(make_gamma.<locals>.gamma\)"),
    (dict(info_loss=lambda x, z: 0 * x.sum()), "info_loss= is a lambda"),
], ids=["lambda", "cycle", "closure", "info_loss lambda"])
def test_a_checkpoint_refuses_settings_it_could_not_tell_from_others(options, why, tmp_path):
    """`lambda t: 2.0` and `lambda t: 50.0` have the same name: a run must refuse, not guess they are the same."""
    with pytest.raises(ValueError, match=f"{why}, which a later run cannot tell apart.*functools.partial"):
        run(checkpoint=tmp_path / "run.pt", **options)
    assert not (tmp_path / "run.pt").exists()
    run(**options)  # without a checkpoint, nothing to tell apart


@pytest.mark.parametrize("first,then,words", [
    (dict(penalty=functools.partial(losses.gradient_penalty, lam=10.0)),
     dict(penalty=functools.partial(losses.gradient_penalty, lam=1.0)), r"penalty: .*'lam': 10\.0.*'lam': 1\.0"),
    (dict(regularizer=losses.js_regularizer, gamma=np.float32(2)),
     dict(regularizer=losses.js_regularizer, gamma=np.float32(50)), "gamma: 2.0 in the checkpoint, 50.0 now"),
    (dict(regularizer=losses.js_regularizer, gamma=torch.tensor(2.0)),
     dict(regularizer=losses.js_regularizer, gamma=torch.tensor(50.0)), r"gamma: 'tensor\(2.0\)' in the checkpoint"),
    (dict(regularizer=losses.js_regularizer, gamma=AnnealedGamma(np.float32(2), 8)),
     dict(regularizer=losses.js_regularizer, gamma=AnnealedGamma(np.float32(50), 8)), r"'gamma0': 2\.0.*'gamma0': 50\.0"),
], ids=["partial", "numpy gamma", "tensor gamma", "schedule"])
def test_resume_tells_apart_settings_that_share_a_name(first, then, words, tmp_path):
    ck = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=ck, checkpoint_every=2, snapshot=interrupt_after(4), snapshot_every=1, **first)
    with pytest.raises(ValueError, match=words):
        run(checkpoint=ck, **then)
    assert run(checkpoint=ck, **first).step == list(range(1, 9))  # the same settings continue


def test_a_finished_run_rerun_returns_its_history_without_training_or_rewriting(tmp_path, monkeypatch):
    ck = tmp_path / "run.pt"
    for budget in (dict(steps=5), dict(steps=None, max_seconds=1.0), dict(steps=100, max_seconds=1.0)):
        clock = iter(range(10**6))
        monkeypatch.setattr(loop.time, "perf_counter", lambda: 0.1 * next(clock))  # 0.1 s per call
        first = run(checkpoint=ck, **budget)
        blob = ck.read_bytes()
        again = run(checkpoint=ck, **budget)
        assert again.step == first.step and again.d_loss == first.d_loss and ck.read_bytes() == blob
        ck.unlink()


def test_a_checkpoint_path_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    run(checkpoint="~/runs/gan.pt")
    assert (tmp_path / "home" / "runs" / "gan.pt").exists() and not (tmp_path / "work" / "~").exists()
    assert run(checkpoint="~/runs/gan.pt").step == list(range(1, 9))  # and found again there


@pytest.mark.parametrize("clip", [-0.01, True, 0, float("nan"), "0.01"])
def test_clip_must_be_a_positive_number(clip):
    g, d, g_opt, d_opt = small_gan()
    before = params(d)
    with pytest.raises(ValueError, match=f"clip= clamps the discriminator's weights.*got {clip!r}"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, clip=clip, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(before, params(d)))
    train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, clip=np.float32(0.01), progress=False)
    assert max(p.abs().max().item() for p in d.parameters()) == pytest.approx(0.01)


class BatchNormMLP(nn.Module):
    """A user's networks with batch norm: their running statistics are state, like the weights."""

    def __init__(self, n_in, n_out, z_dim=None):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(n_in, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, n_out))

    def forward(self, x):
        out = self.net(x)
        return out if self.z_dim else out.squeeze(1)


def test_a_nan_caught_before_the_update_leaves_batch_norm_statistics_as_they_were():
    """The D step of step 3 finds a nan: statistics as after step 2. The G step of step 3 finds one:
    statistics as after the D step of step 3, which a D-step term records (it runs after D's forward passes)."""
    for options in ("D step", "G step"):
        torch.manual_seed(0)
        g, d = BatchNormMLP(4, 2, z_dim=4), BatchNormMLP(2, 1)
        g_opt, d_opt = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
        state = []
        record = lambda *nets: state.append([b.clone() for net in nets for b in net.buffers()])
        if options == "D step":
            kw = dict(regularizer=nan_from(3), gamma=1.0, snapshot=lambda g, d: record(g, d) or 0, snapshot_every=1)
        else:
            kw = dict(g_loss=nan_from(3), regularizer=lambda *a: record(g, d) or torch.zeros(()), gamma=0.0)
        with pytest.raises(FloatingPointError, match="diverged at step 3"):
            train(g, d, DATA, steps=10, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, **kw)
        assert all(torch.equal(b, s) for b, s in zip([*g.buffers(), *d.buffers()], state[-1])), options


@pytest.mark.parametrize("data,error,words", [
    (DATA.double(), TypeError, r"parameters are torch.float32 and data= is torch.float64: .*data.float\(\)"),
    ((DATA * 40).clamp(0, 255).to(torch.uint8), TypeError, r"torch.uint8 values.*data.float\(\) / 127.5 - 1"),
    (DATA[:0], ValueError, r"data= holds no samples \(shape \(0, 2\)\)"),
    (torch.cat([DATA, torch.full((1, 2), float("nan"))]), ValueError, "nan or inf in 1 of its 257 samples .*sample 256"),
], ids=["float64", "uint8", "empty", "nan"])
def test_data_of_another_dtype_empty_or_with_nan_is_refused_before_training(data, error, words):
    g, d, g_opt, d_opt = small_gan()
    with pytest.raises(error, match=words):
        train(g, d, data, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)


def test_numpy_integers_count_as_integers():
    g, d, g_opt, d_opt = small_gan()
    h = train(g, d, DATA, steps=np.int64(3), batch_size=np.int64(8), d_steps=np.int32(2), g_opt=g_opt, d_opt=d_opt,
              progress=False)
    assert h.step == [1, 2, 3]


@pytest.mark.parametrize("options,words", [
    (dict(steps=None, max_seconds=float("inf")), "never stops"),
    (dict(checkpoint_every=5), "checkpoint_every=5 needs checkpoint="),
    (dict(regularizer=losses.js_regularizer, gamma=-2.0), "gamma= must be a number >= 0"),
    (dict(regularizer=losses.js_regularizer, gamma=lambda t: 1.0 - t), r"gamma\(2\) is -1.0"),
    (dict(labels=[0, 1] * 128), "labels= must be a 1D integer tensor.*got a list"),
    (dict(labels=torch.zeros(256)), "labels= must be a 1D integer tensor.*got a torch.float32 tensor"),
], ids=["endless", "checkpoint_every", "negative gamma", "negative schedule", "labels list", "float labels"])
def test_more_settings_that_cannot_work_are_refused(options, words):
    g, d, g_opt, d_opt = small_gan()
    ran = iter(range(30))  # an endless run stops here, with another error than the one expected
    kw = dict(steps=3, batch_size=8, snapshot=lambda g, d: next(ran), snapshot_every=1) | options
    with pytest.raises(ValueError if "labels" not in options else TypeError, match=words):
        train(g, d, DATA, g_opt=g_opt, d_opt=d_opt, progress=False, **kw)


def test_an_optimiser_missing_some_of_its_networks_trainable_parameters_is_refused():
    g, d, g_opt, _ = small_gan()
    d_opt = torch.optim.Adam(d.net[0].parameters(), 1e-3)  # e.g. the body of D without its read-out (or Q head)
    with pytest.raises(ValueError, match=r"d_opt does not hold 2 trainable parameters of the discriminator \(net.3.weight"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)
    d.net[3].requires_grad_(False)  # deliberately frozen: fine
    train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)


def test_a_generator_without_z_dim_is_named_and_a_prior_function_needs_none():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 2))  # a user's own, no z_dim
    d = MLPDiscriminator((2,), (16,))
    g_opt, d_opt = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    with pytest.raises(ValueError, match=r"z_dim=None: set it \(e.g. generator.z_dim = 100\)"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)
    h = train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False,
              prior=lambda n, rng: torch.randn(n, 4, generator=rng))
    assert h.step == [1, 2]


@pytest.mark.parametrize("fn", [losses.discriminator_loss, losses.critic_loss_wasserstein,
                                lambda r, f: losses.generator_loss_nonsaturating(f)], ids=["gan", "wasserstein", "g"])
def test_losses_refuse_empty_batches_and_integer_logits(fn):
    with pytest.raises(ValueError, match=r"holds no samples \(shape \(0,\)\)"):
        fn(torch.zeros(0), torch.zeros(0))  # the mean of nothing: nan
    with pytest.raises(TypeError, match=r"must be floating point .* got torch.int64: pass e.g. d_\w+.float\(\)"):
        fn(torch.tensor([1, 2]), torch.tensor([0, 3]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_gradient_penalty_on_a_critic_in_another_precision(dtype):
    """A linear critic has |grad| = |w| everywhere: the penalty is lam (|w| - 1)^2 in any precision."""
    torch.manual_seed(0)
    critic = nn.Linear(3, 1).to(dtype)
    x_real, x_fake = torch.randn(64, 3).to(dtype), torch.randn(64, 3).to(dtype)
    gp = losses.gradient_penalty(lambda x: critic(x).squeeze(1), x_real, x_fake)
    expected = 10 * (critic.weight.double().norm().item() - 1) ** 2
    assert gp.dtype == dtype and gp.item() == pytest.approx(expected, rel=2e-2 if dtype != torch.float64 else 1e-9)


def test_mutual_information_loss_takes_one_code_vector_per_sample():
    """Logits 0 for 2 categories: log 2 = 0.6931; means [[0], [1]] against codes [1, 1]: 0.5 (1 + 0) / 2 = 0.25,
    times 0.1: 0.025. A (N, 1) mean minus (N,) codes broadcast to N x N: 0.05."""
    logits, category = torch.zeros(2, 2), torch.tensor([0, 1])
    expected = math.log(2) + 0.1 * 0.25
    for mean, codes in (([[0.0], [1.0]], [1.0, 1.0]), ([[0.0], [1.0]], [[1.0], [1.0]]), ([0.0, 1.0], [1.0, 1.0])):
        got = losses.mutual_information_loss(logits, torch.tensor(mean), category, torch.tensor(codes))
        assert got.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match=r"shape \(N, K\).*got \(2, 2\) and \(2, 3\)"):
        losses.mutual_information_loss(logits, torch.zeros(2, 2), category, torch.zeros(2, 3))


# What a checkpoint records of the settings it cannot see by name (the third outside review)
LAM = 10.0


def global_penalty(discriminator, x_real, x_fake):
    return LAM * losses.gradient_penalty(discriminator, x_real, x_fake) / 10


def default_penalty(discriminator, x_real, x_fake, lam=10.0, *, scale=1.0):
    return scale * losses.gradient_penalty(discriminator, x_real, x_fake, lam=lam)


class ModulePenalty(nn.Module):
    def __init__(self, lam):
        super().__init__()
        self.lam = lam

    def forward(self, discriminator, x_real, x_fake):
        return losses.gradient_penalty(discriminator, x_real, x_fake, lam=self.lam)


def resume_gan(ck, change, options, **kw):
    """A run interrupted at its 4th snapshot, then resumed after ``change(g, d, options)``."""
    g, d, g_opt, d_opt = small_gan(**kw)
    with pytest.raises(KeyboardInterrupt):
        train(g, d, DATA, steps=8, batch_size=32, g_opt=g_opt, d_opt=d_opt, progress=False, seed=3, checkpoint=ck,
              checkpoint_every=2, snapshot=interrupt_after(4), snapshot_every=1, **options)
    g, d, g_opt, d_opt = small_gan(**kw)
    data = change(g, d, options)
    data = DATA if data is None else data
    return train(g, d, data, steps=8, batch_size=32, g_opt=g_opt, d_opt=d_opt, progress=False, seed=3,
                 checkpoint=ck, **options)


@pytest.mark.parametrize("options, change, words", [
    (dict(penalty=global_penalty), lambda g, d, o: globals().update(LAM=0.0), r"'LAM': 10\.0.*'LAM': 0\.0"),
    (dict(penalty=default_penalty), lambda g, d, o: setattr(default_penalty, "__defaults__", (1.0,)),
     r"defaults=\[10\.0\].*defaults=\[1\.0\]"),
    (dict(penalty=default_penalty), lambda g, d, o: setattr(default_penalty, "__kwdefaults__", {"scale": 0.0}),
     r"'scale': 1\.0.*'scale': 0\.0"),
    (dict(penalty=ModulePenalty(10.0)), lambda g, d, o: setattr(o["penalty"], "lam", 1.0),
     r"'lam': 10\.0.*'lam': 1\.0"),
    ({}, lambda g, d, o: setattr(d.net[1], "negative_slope", 0.01), r"negative_slope=0\.2.*negative_slope=0\.01"),
    ({}, lambda g, d, o: setattr(d.net[2], "p", 0.1), r"discriminator: .*p=0\.5.*p=0\.1"),
    ({}, lambda g, d, o: setattr(d, "temperature", 2.0), r"discriminator: .*'temperature': 2\.0"),
    ({}, lambda g, d, o: DATA + 1, "data: "),
], ids=["global", "defaults", "kwdefaults", "module attribute", "slope", "dropout", "attribute", "data"])
def test_resume_refuses_settings_changed_behind_the_same_name(options, change, words, tmp_path, monkeypatch):
    monkeypatch.setattr(default_penalty, "__defaults__", default_penalty.__defaults__)
    monkeypatch.setattr(default_penalty, "__kwdefaults__", dict(default_penalty.__kwdefaults__))
    monkeypatch.setitem(globals(), "LAM", LAM)
    if "penalty" in options and isinstance(options["penalty"], nn.Module):
        options = dict(penalty=ModulePenalty(10.0))
    with pytest.raises(ValueError, match=f"written by a run with other settings .*{words}"):
        resume_gan(tmp_path / "run.pt", change, dict(options))


def test_resume_with_unchanged_hidden_settings_continues(tmp_path):
    steps = resume_gan(tmp_path / "run.pt", lambda g, d, o: None, dict(penalty=ModulePenalty(10.0))).step
    assert steps == list(range(1, 9))


def sqrt_from(step, of):
    """A term whose value is finite (0) and, from its ``step``-th call, whose gradient is nan:
    d sqrt(u) / du is inf at u = 0 and du / d(logits) is 0 there, as for a norm without an epsilon."""
    calls = []

    def term(*args):
        calls.append(1)
        logits = of(*args)
        return torch.sqrt((logits * 0) ** 2).mean() if len(calls) >= step else 0 * logits.mean()
    return term


@pytest.mark.parametrize("options,player", [
    (dict(penalty=sqrt_from(3, lambda d, x_real, x_fake: d(x_real))), "discriminator"),
    (dict(g_loss=sqrt_from(3, lambda d_fake: d_fake)), "generator"),
], ids=["penalty", "g_loss"])
def test_nan_gradients_of_a_finite_loss_never_reach_the_weights_nor_the_optimiser(options, player):
    g, d, g_opt, d_opt = small_gan()
    after = []

    def snapshot(g, d):
        after.append([copy.deepcopy(x.state_dict()) for x in (g, d, g_opt, d_opt)])
        return 0
    with pytest.raises(FloatingPointError, match=f"diverged at step 3: the gradients of the {player}'s parameters "
                                                 "are not finite .*the weights were not updated"):
        train(g, d, DATA, steps=10, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, snapshot=snapshot,
              snapshot_every=1, **options)
    assert all(torch.isfinite(p).all() for p in [*g.parameters(), *d.parameters()])
    before = after[-1]  # as after step 2: weights and Adam's moments and step counts
    if player == "generator":  # the discriminator's step 3 came first, and stands
        before[1], before[3] = d.state_dict(), d_opt.state_dict()
    assert same(before, [x.state_dict() for x in (g, d, g_opt, d_opt)])


def same(a, b):
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


@pytest.mark.parametrize("seed", [None, 1.5, 2**70, -2**64, True, "3"], ids=["None", "float", "2**70", "-2**64", "bool", "str"])
def test_a_seed_that_is_not_a_whole_number_in_range_is_refused_naming_it(seed):
    g, d, g_opt, d_opt = small_gan()
    with pytest.raises(ValueError, match=rf"seed={seed!r} \({type(seed).__name__}\): pass a whole number from -2\*\*63 to 2\*\*63 - 2, e\.g\. seed=0"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, seed=seed)


def test_a_numpy_integer_seed_repeats_the_int_seeds_run():
    g, d, g_opt, d_opt = small_gan()
    a = train(g, d, DATA, steps=3, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, seed=np.int64(5))
    g, d, g_opt, d_opt = small_gan()
    b = train(g, d, DATA, steps=3, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, seed=5)
    assert a.d_loss == b.d_loss and a.g_loss == b.g_loss


def per_sample_penalty(discriminator, x_real, x_fake):
    return discriminator(x_real) ** 2  # forgot the .mean()


def float_penalty(discriminator, x_real, x_fake):
    return 0.0


def per_sample_regularizer(d_real, x_real, d_fake, x_fake):
    return d_real ** 2


def per_sample_d_loss(d_real, d_fake):
    return nn.functional.softplus(-d_real) + nn.functional.softplus(d_fake)


@pytest.mark.parametrize("options,words", [
    (dict(penalty=float_penalty), "penalty= returned a float"),
    (dict(penalty=per_sample_penalty), r"penalty= returned a tensor of shape \(8,\)"),
    (dict(regularizer=per_sample_regularizer, gamma=1.0), r"regularizer= returned a tensor of shape \(8,\)"),
    (dict(d_loss=per_sample_d_loss), r"d_loss= returned a tensor of shape \(8,\)"),
], ids=["float penalty", "per-sample penalty", "per-sample regularizer", "per-sample d_loss"])
def test_a_term_that_is_not_a_scalar_tensor_is_refused_naming_it(options, words):
    g, d, g_opt, d_opt = small_gan()
    with pytest.raises(ValueError, match=f"the discriminator's {words}; it must return a scalar tensor "
                                         r"\(the mean over the batch\)"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False, **options)


def none_schedule(t):
    return None


def vector_schedule(t):
    return torch.ones(3)


@pytest.mark.parametrize("gamma,words", [(none_schedule, "None"), (vector_schedule, r"a tensor of shape \(3,\)")],
                         ids=["None", "vector"])
def test_a_gamma_schedule_that_returns_no_number_is_refused_naming_it(gamma, words):
    g, d, g_opt, d_opt = small_gan()
    with pytest.raises(ValueError, match=f"gamma\\(0\\) is {words}: the regularizer's weight must be a number >= 0"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False,
              regularizer=losses.js_regularizer, gamma=gamma)


def test_a_layer_shared_by_the_generator_and_the_discriminator_is_refused():
    g, d, g_opt, d_opt = small_gan()
    d.shared = g.net[0]  # e.g. an embedding meant for both
    d_opt = torch.optim.Adam([p for n, p in d.named_parameters() if not n.startswith("shared")], 1e-3)
    with pytest.raises(ValueError, match=r"shared\.0\.weight is also the generator's net\.0\.0\.weight.*frozen in both steps"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False)


class FlatGenerator(nn.Module):
    """A generator whose samples have 3 coordinates, for 2D data."""

    def __init__(self):
        super().__init__()
        self.z_dim, self.net = 4, nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Linear(16, 3))

    def forward(self, z):
        return self.net(z)


@pytest.mark.parametrize("make", [FlatGenerator, lambda: MLPGenerator(4, (16,), (3,), output="none")],
                         ids=["forward", "out_shape"])
def test_a_generator_whose_samples_do_not_have_the_datas_shape_is_refused_before_training(make):
    _, d, _, d_opt = small_gan()
    g = make()
    with pytest.raises(ValueError, match=r"the generator's samples have shape \(3,\) and the data's \(2,\)"):
        train(g, d, DATA, steps=2, batch_size=8, g_opt=torch.optim.Adam(g.parameters()), d_opt=d_opt, progress=False)
