"""The capstone's modern baseline: the relativistic pairing loss, R2, the gamma / 4 identity between
Roth et al.'s regularizer and R1 + R2, the Dirac-GAN's eigenvalues, the PacGAN metrics, packing and
copy-wise spectral norm, and the paired generator step of the loop."""

import functools
import math

import pytest
import torch

from regan_tutorial import dynamics as dy
from regan_tutorial import losses, metrics, nets, studies
from regan_tutorial.nets import MLPDiscriminator, MLPGenerator
from regan_tutorial.train import LearningRateDecay, generator_step, takes_real, train

sp = lambda t: math.log1p(math.exp(t))  # softplus by hand


def test_relativistic_losses_by_hand():
    d_real, d_fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    # pairs (2, -1) and (0, 1): D pays softplus(fake - real), G softplus(real - fake)
    assert losses.discriminator_loss_relativistic(d_real, d_fake).item() == pytest.approx((sp(-3) + sp(1)) / 2)
    assert losses.generator_loss_relativistic(d_real, d_fake).item() == pytest.approx((sp(3) + sp(-1)) / 2)
    # equal logits: log 2 for both players, whatever the common value
    for c in (-50.0, 0.0, 7.0):
        same = torch.full((3,), c)
        assert losses.discriminator_loss_relativistic(same, same).item() == pytest.approx(math.log(2))


def test_relativistic_losses_against_float64_and_their_shift_invariance():
    g = torch.Generator().manual_seed(0)
    d_real, d_fake = 4 * torch.randn(64, generator=g), 4 * torch.randn(64, generator=g)
    r, f = d_real.double(), d_fake.double()
    reference_d = torch.log1p(torch.exp(f - r)).mean().item()
    reference_g = torch.log1p(torch.exp(r - f)).mean().item()
    assert losses.discriminator_loss_relativistic(d_real, d_fake).item() == pytest.approx(reference_d, rel=1e-6)
    assert losses.generator_loss_relativistic(d_real, d_fake).item() == pytest.approx(reference_g, rel=1e-6)
    shifted = losses.discriminator_loss_relativistic(d_real + 3.0, d_fake + 3.0).item()
    assert shifted == pytest.approx(reference_d, rel=1e-5)  # only differences of logits count
    big = torch.tensor([300.0, -300.0])  # finite where exp overflows
    assert losses.discriminator_loss_relativistic(big, big.flip(0)).item() == pytest.approx(300.0)
    # (N, 1) logits are one per sample, and unpaired batches are refused
    assert losses.generator_loss_relativistic(d_real[:, None], d_fake[:, None]).item() == pytest.approx(reference_g,
                                                                                                       rel=1e-6)
    with pytest.raises(ValueError, match="pairs each real sample with one fake: got 3 real and 2 fake"):
        losses.discriminator_loss_relativistic(torch.zeros(3), torch.zeros(2))


def _per_sample_norm2(d, x):
    """Squared input-gradient norms, one sample at a time, in float64."""
    values = []
    for xi in x:
        xi = xi.detach().double().unsqueeze(0).requires_grad_(True)
        g, = torch.autograd.grad(d(xi).sum(), xi)
        values.append(g.pow(2).sum())
    return torch.stack(values)


@pytest.mark.parametrize("make,shape", [
    (lambda: MLPDiscriminator((5,), (16, 16)), (5,)),
    (lambda: nets.DCGANDiscriminator(width=4, batch_norm=False), (1, 28, 28)),
])
def test_r2_is_the_mean_squared_input_gradient_on_the_fakes_only(make, shape):
    torch.manual_seed(0)
    d = make().double()
    x_real = torch.randn(7, *shape, dtype=torch.float64, requires_grad=True)
    x_fake = torch.randn(4, *shape, dtype=torch.float64, requires_grad=True)
    r2 = losses.r2_regularizer(d(x_real), x_real, d(x_fake), x_fake)
    assert r2.item() == pytest.approx(_per_sample_norm2(d, x_fake).mean().item(), rel=1e-10)
    other_real = torch.randn(3, *shape, dtype=torch.float64, requires_grad=True)
    assert losses.r2_regularizer(d(other_real), other_real, d(x_fake), x_fake).item() == r2.item()
    both = losses.r1_r2_regularizer(d(x_real), x_real, d(x_fake), x_fake)
    assert both.item() == pytest.approx(_per_sample_norm2(d, x_real).mean().item() + r2.item(), rel=1e-10)
    weight = next(d.parameters())
    assert torch.autograd.grad(r2, weight)[0].abs().sum() > 0, "R2 trains D (create_graph=True)"


def test_r2_of_a_linear_discriminator_is_its_squared_weight_norm():
    layer = torch.nn.Linear(3, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))
    x_fake = torch.randn(5, 3, requires_grad=True)
    x_real = torch.randn(2, 3, requires_grad=True)
    d_fake = layer(x_fake)  # (N, 1) logits, as a user's net returns them
    assert losses.r2_regularizer(layer(x_real), x_real, d_fake, x_fake).item() == pytest.approx(9.0)


def _at_one_half(d):
    """D's logit minus its own (detached) value: 0 at every sample (D = 1/2), the same input gradient."""
    return lambda x: d(x) - d(x).detach()


@pytest.mark.parametrize("gamma", [0.1, 2.0])
def test_near_equilibrium_roths_regularizer_is_r1_plus_r2_with_a_quarter_of_gamma(gamma):
    torch.manual_seed(0)
    d = MLPDiscriminator((3,), (16,)).double()
    x_real = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    x_fake = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    half = _at_one_half(d)
    js = gamma / 2 * losses.js_regularizer(half(x_real), x_real, half(x_fake), x_fake)
    r1r2 = (gamma / 4) / 2 * losses.r1_r2_regularizer(half(x_real), x_real, half(x_fake), x_fake)
    assert js.item() == pytest.approx(r1r2.item(), rel=1e-12)
    # away from D = 1/2 the identity holds to first order: the error shrinks with the logits' size
    errors = []
    for scale in (0.1, 0.01):
        scaled = lambda x: scale * d(x)
        js = losses.js_regularizer(scaled(x_real), x_real, scaled(x_fake), x_fake).item()
        quarter = losses.r1_r2_regularizer(scaled(x_real), x_real, scaled(x_fake), x_fake).item() / 4
        errors.append(abs(js - quarter) / quarter)
    assert errors[1] < errors[0] / 5 and errors[1] < 0.02


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("regularizer,count", [(None, 0), (losses.r1_regularizer, 1), (losses.r2_regularizer, 1),
                                               (losses.r1_r2_regularizer, 2)])
def test_relativistic_dirac_gan_eigenvalues_match_their_closed_form(regularizer, count, gamma):
    jacobian = dy.relativistic_jacobian(regularizer=regularizer, gamma=gamma)
    got = sorted(torch.linalg.eigvals(jacobian).tolist(), key=lambda z: (z.real, z.imag))
    expected = sorted(dy.relativistic_eigenvalues_closed_form(gamma, count), key=lambda z: (z.real, z.imag))
    assert all(abs(a - b) < 1e-9 for a, b in zip(got, expected))
    assert torch.allclose(jacobian, torch.tensor([[0.0, 0.5], [-0.5, -count * gamma]], dtype=torch.float64))


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
def test_roths_regularizer_at_gamma_has_the_eigenvalues_of_r1_plus_r2_at_gamma_over_four(gamma):
    js = dy.eigenvalues(penalty=dy.js_penalty, gamma=gamma).tolist()
    r1r2 = dy.relativistic_eigenvalues_closed_form(gamma / 4, 2)
    key = lambda z: (round(z.real, 9), round(z.imag, 9))
    assert all(abs(a - b) < 1e-9 for a, b in zip(sorted(js, key=key), sorted(r1r2, key=key)))


def test_the_relativistic_field_away_from_the_equilibrium_agrees_with_finite_differences():
    field = dict(regularizer=losses.r1_r2_regularizer, gamma=0.5)
    jacobian = dy.relativistic_jacobian(0.3, -0.8, **field)
    h = 1e-6
    for j, (dt, dp) in enumerate(((h, 0.0), (0.0, h))):
        diff = (dy.relativistic_field(0.3 + dt, -0.8 + dp, **field)
                - dy.relativistic_field(0.3 - dt, -0.8 - dp, **field)) / (2 * h)
        assert torch.allclose(jacobian[:, j], diff.detach(), atol=1e-7)


def test_reverse_kl_of_the_mode_histogram_by_hand():
    assert metrics.mode_histogram_kl([5, 5, 5, 5]) == 0.0
    assert metrics.mode_histogram_kl([4, 0, 0, 0]) == pytest.approx(math.log(4))  # all in one mode
    # p = (1/2, 1/2, 0, 0): 2 * 1/2 * log(4 / 2) = log 2
    assert metrics.mode_histogram_kl([3, 3, 0, 0]) == pytest.approx(math.log(2))
    assert math.isnan(metrics.mode_histogram_kl([0, 0, 0]))
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[0.0, 0.001], [0.001, 0.0], [1.0, 0.0], [0.5, 0.5]])  # the last is low quality
    coverage = metrics.mode_coverage(samples, centres, std=0.01)
    p = torch.tensor([2 / 3, 1 / 3])
    assert coverage.reverse_kl == pytest.approx((p * torch.log(2 * p)).sum().item())
    assert coverage.modes == 2 and coverage.high_quality == 0.75


def test_the_protocol_mixtures_are_pacgans():
    mixtures = studies.leaderboard_mixtures()
    ring, grid = mixtures["ring"], mixtures["grid"]
    angles = 2 * math.pi * torch.arange(8) / 8
    assert torch.allclose(ring.centres, torch.stack([angles.cos(), angles.sin()], 1)) and ring.std == 0.01
    ticks = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    assert torch.equal(grid.centres, torch.cartesian_prod(ticks, ticks)) and grid.std == 0.05


def test_packing_judges_consecutive_samples_together_within_each_copy():
    torch.manual_seed(0)
    inner = nets.MLPEnsemble(2, [4, 8, 1], squeeze=True)
    packed = nets.Packed(inner, 2)
    x = torch.randn(8, 2)  # 2 copies x 4 samples -> 2 copies x 2 packs
    assert torch.equal(packed(x), inner(x.reshape(4, 4)))
    x2 = x.clone()
    x2[5] += 1.0  # a sample of copy 1's first pack: only that logit moves
    moved = (packed(x2) != packed(x)).tolist()
    assert moved == [False, False, True, False]
    with pytest.raises(ValueError, match="7 samples cannot be packed in groups of 2"):
        packed(torch.randn(7, 2))


def test_copywise_spectral_norm_gives_each_copy_a_unit_spectral_norm():
    torch.manual_seed(0)
    ensemble = nets.ensemble_spectral_normalized(nets.MLPEnsemble(3, [2, 16, 16, 1], squeeze=True))
    raw = [w.detach().clone() for w in ensemble.weights.parametrizations["0"].original[None]]
    x = torch.randn(6, 2)
    for _ in range(50):
        ensemble(x)
    for w in ensemble.weights:
        assert torch.allclose(torch.linalg.matrix_norm(w, ord=2), torch.ones(3), atol=1e-4)
    # each copy by its own sigma: the normalised weights are the raw ones over their own spectral norms
    original = ensemble.weights.parametrizations["0"].original
    assert torch.allclose(ensemble.weights[0], original / torch.linalg.matrix_norm(original, ord=2)[:, None, None],
                          atol=1e-4)
    assert raw[0].shape == (3, 2, 16)


def test_the_loop_gives_a_paired_generator_loss_the_logits_of_a_real_batch():
    assert takes_real(losses.generator_loss_relativistic) and not takes_real(losses.generator_loss_nonsaturating)
    assert not takes_real(lambda d_fake, weight=2.0: d_fake.mean())
    with pytest.raises(ValueError, match="takes 3 required arguments"):
        takes_real(lambda a, b, c: a)
    torch.manual_seed(0)
    g, d = MLPGenerator(2, (8,), (2,), output="none"), MLPDiscriminator((2,), (8,))
    g_opt = torch.optim.SGD(g.parameters(), lr=0.1)
    z, x_real = torch.randn(5, 2), torch.randn(5, 2)
    seen = {}

    def spy(d_real, d_fake):
        seen["d_real"] = d_real.detach().clone()
        return losses.generator_loss_relativistic(d_real, d_fake)

    before = [p.detach().clone() for p in g.parameters()]
    b, values = generator_step(g, d, g_opt, z, x_real=x_real, g_loss=spy, frozen=list(d.parameters()))
    assert torch.equal(seen["d_real"], d(x_real).detach()) and torch.equal(b.x_real, x_real)
    assert any(not torch.equal(p, q) for p, q in zip(before, g.parameters()))
    assert all(p.grad is None for p in d.parameters()), "the generator step gives D no gradient"
    with pytest.raises(ValueError, match="pass the real batch, x_real="):
        generator_step(g, d, g_opt, z, g_loss=losses.generator_loss_relativistic)


def test_a_paired_loss_trains_through_the_loop_and_a_classic_run_is_unchanged():
    def run(**options):
        torch.manual_seed(0)
        g, d = MLPGenerator(2, (8,), (2,), output="none"), MLPDiscriminator((2,), (8,))
        data = torch.randn(64, 2)
        history = train(g, d, data, steps=3, batch_size=8, g_opt=torch.optim.Adam(g.parameters(), 1e-3),
                        d_opt=torch.optim.Adam(d.parameters(), 1e-3), progress=False, **options)
        return history, g

    classic, g_classic = run()
    paired, _ = run(d_loss=losses.discriminator_loss_relativistic, g_loss=losses.generator_loss_relativistic,
                    regularizer=losses.r1_r2_regularizer, gamma=1.0)
    assert len(paired.g_loss) == 3 and all(math.isfinite(v) for v in paired.g_loss + paired.d_loss)
    assert paired.d_terms["regularizer"][0] > 0
    # the classic path is still Algorithm 1, written here by hand with the loop's draws (an index
    # and a noise batch for each player's step: the G step's real batch is drawn and not used)
    torch.manual_seed(0)
    g, d = MLPGenerator(2, (8,), (2,), output="none"), MLPDiscriminator((2,), (8,))
    data = torch.randn(64, 2)
    g_opt, d_opt = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    rng = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = data[torch.randint(64, (8,), generator=rng)]
        d_opt.zero_grad()
        losses.discriminator_loss(d(x), d(g(torch.randn(8, 2, generator=rng)).detach())).backward()
        d_opt.step()
        torch.randint(64, (8,), generator=rng)
        g_opt.zero_grad()
        losses.generator_loss_nonsaturating(d(g(torch.randn(8, 2, generator=rng)))).backward()
        g_opt.step()
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(g_classic.parameters(), g.parameters()))


def test_a_learning_rate_factor_scales_both_optimisers_from_their_initial_rates():
    torch.manual_seed(0)
    g, d = MLPGenerator(2, (8,), (2,), output="none"), MLPDiscriminator((2,), (8,))
    g_opt, d_opt = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 2e-3)
    decay = LearningRateDecay(0.01, 5)
    train(g, d, torch.randn(64, 2), steps=5, batch_size=8, g_opt=g_opt, d_opt=d_opt, progress=False,
          lr_factor=decay)
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1e-5) and d_opt.param_groups[0]["lr"] == pytest.approx(2e-5)
    assert g_opt.param_groups[0]["initial_lr"] == 1e-3
    assert decay(0) == 1.0
    with pytest.raises(ValueError, match="lr_factor= must be a function of the step"):
        train(g, d, torch.randn(64, 2), steps=1, batch_size=8, g_opt=g_opt, d_opt=d_opt, lr_factor=0.5)


def test_every_leaderboard_arm_trains_a_few_steps_and_is_scored_by_pacgans_metrics():
    common, arms = studies.leaderboard_study("ring", steps=3, copies=2)
    ring = studies.leaderboard_mixtures()[common.pop("dataset")]
    for name, extra in arms.items():  # spectral norm: two forward passes per D step, then one backward
        row = studies.coverage_rows(studies.train_toy_gans(ring, **common, **extra, progress=False))
        assert len(row["modes"]) == len(row["reverse_kl"]) == 2 and row["steps"] == 3, name


def test_stacked_mnist_has_one_mode_per_digit_pair_and_the_classifier_counts_them():
    from regan_tutorial.data import ImageData, stacked_mnist

    torch.manual_seed(0)
    digits = ImageData(torch.rand(30, 1, 28, 28) * 2 - 1, torch.arange(30) % 10, "test")
    images, modes = stacked_mnist(digits, 50, 2, torch.Generator().manual_seed(0))
    assert images.shape == (50, 2, 28, 28) and modes.min() >= 0 and modes.max() < 100

    class ByMean(torch.nn.Module):  # a "classifier" whose digit is the image's first pixel, 0..9
        def forward(self, x):
            return torch.nn.functional.one_hot(((x[:, 0, 0, 0] + 1) * 4.999).long(), 10).float() * 20

    x = torch.full((4, 2, 28, 28), -1.0)
    x[1, 0, 0, 0] = 1.0  # first channel reads 9: mode 90
    x[2, 1, 0, 0] = -0.5  # second channel reads 2: mode 2
    coverage = metrics.stacked_mnist_coverage(ByMean(), x)
    assert coverage.n_modes == 100 and coverage.modes == 3
    assert coverage.counts[0] == 2 and coverage.counts[90] == 1 and coverage.counts[2] == 1
    assert coverage.reverse_kl == pytest.approx(0.5 * math.log(50) + 2 * 0.25 * math.log(25))


def test_a_stacked_mnist_run_trains_and_is_scored():
    from regan_tutorial.data import ImageData

    digits = ImageData(torch.rand(40, 1, 28, 28) * 2 - 1, torch.arange(40) % 10, "test")
    common, arms = studies.stacked_mnist_study(steps=2, copies=2)
    common.update(n_data=64, n_eval=20, width=16)
    for name, extra in arms.items():
        row = studies.stacked_rows(studies.train_stacked_gans(digits, **common, **extra, progress=False))
        assert len(row["modes"]) == 2 and row["steps"] == 2, name


def test_the_relativistic_checker_accepts_a_right_answer_and_names_each_slip(capsys):
    from regan_tutorial import exercises
    import torch.nn.functional as F

    right = lambda d_real, d_fake: -F.logsigmoid(d_real - d_fake).mean()  # written another way, and stable
    assert exercises.check_relativistic_loss(right)
    # a one-element result back-propagates as a scalar does, and the loop takes it (an outside review)
    assert exercises.check_relativistic_loss(lambda r, f: F.softplus(f - r).mean().reshape(1))
    slips = {
        "scalar tensor": lambda r, f: F.softplus(f - r).reshape(-1)[:2].mean(0, keepdim=True).expand(2),
        "the generator's loss": lambda r, f: F.softplus(r - f).mean(),
        "classic loss": lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
        "N x N mean": lambda r, f: F.softplus(f[None, :] - r[:, None]).mean(),
        "means before the softplus": lambda r, f: F.softplus(f.mean() - r.mean()),
        "sums over the pairs": lambda r, f: F.softplus(f - r).sum(),
        "no gradient": lambda r, f: torch.tensor(F.softplus(f - r).mean().item()),
        "package's own": losses.discriminator_loss_relativistic,
    }
    for words, wrong in slips.items():
        assert not exercises.check_relativistic_loss(wrong)
        assert words in capsys.readouterr().out, words


@pytest.mark.parametrize("answer, words", [
    (lambda r, f: -torch.log(torch.sigmoid(r - f)).mean(), "overflows or underflows"),
    (lambda r, f: torch.log1p(torch.exp(f - r)).mean(), "overflows or underflows"),
    (lambda r, f: torch.nn.functional.softplus(f.squeeze() - r).mean(), "N x N mean"),
    (lambda r, f: torch.nn.functional.softplus(f - r.flatten()).mean(), "N x N mean"),
])
def test_the_relativistic_checker_catches_what_only_large_or_column_logits_show(answer, words, capsys):
    """An outside review found these passing: right on small (N,) logits, wrong on a confident
    discriminator's or on the (N, 1) logits the course's networks return."""
    from regan_tutorial import exercises

    assert not exercises.check_relativistic_loss(answer)
    assert words in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    (lambda r, f: torch.nn.functional.softplus(f.sub_(r)).mean(), "in place"),  # right value, caller's logits gone
    (lambda r, f: torch.nn.functional.softplus(f.flip(0) - r).mean(), "another fake row"),
    (lambda r, f: torch.nn.functional.softplus(f.roll(1) - r).mean(), "another fake row"),
    # a second review: a roll by two, an eps or a clamp (right but for confident logits), the
    # generator's loss called with its arguments swapped, an answer right only on small batches
    (lambda r, f: torch.nn.functional.softplus(f.roll(2) - r).mean(), "another fake row"),
    (lambda r, f: -torch.log(torch.sigmoid(r - f) + 1e-8).mean(), "right on the other cases"),
    (lambda r, f: torch.log1p(torch.exp((f - r).clamp(max=80))).mean(), "an eps or a clamp"),
    (lambda r, f: losses.generator_loss_relativistic(f, r), "losses.generator_loss_relativistic"),
    (lambda r, f: torch.nn.functional.softplus((f - r) if len(r) <= 3 else (r - f)).mean(), "a random batch of 7"),
])
@pytest.mark.parametrize("graded", [False, True])
def test_the_relativistic_checker_names_in_place_edits_and_wrong_pairings_in_the_notebook_and_the_grader(
        answer, words, graded, capsys):
    """An outside review found an in-place answer passing and a flipped pairing called 'means taken
    before the softplus'; the grader's answer runs in another process and must be judged the same."""
    import dill

    from regan_tutorial import exercises
    from regan_tutorial.remote import Answer

    dill.settings["recurse"] = True
    fn = Answer("mine", {"mine.pkl": dill.dumps(answer)}) if graded else answer
    assert not exercises.check_relativistic_loss(fn)
    assert words in capsys.readouterr().out


def test_a_paired_generator_loss_written_fake_first_or_as_a_module_is_read_right():
    from regan_tutorial.train import takes_real

    def fake_first(d_fake, d_real):
        return torch.nn.functional.softplus(d_real - d_fake).mean()

    with pytest.raises(ValueError, match="put the real logits first"):
        takes_real(fake_first)
    with pytest.raises(ValueError, match=r"takes \(fake, real\)"):  # any names, fake before real
        takes_real(lambda fake, real: fake_first(fake, real))
    assert takes_real(lambda real_logits, fake_logits: fake_first(fake_logits, real_logits))
    for names in ("generated, real", "d_gen, d_real", "gen, data", "d_gen, d_data", "a, real"):
        with pytest.raises(ValueError, match="put the real logits first"):
            takes_real(eval(f"lambda {names}: 0"))
    assert takes_real(lambda d_data, d_generated: 0) and takes_real(lambda a, b: 0)
    with pytest.raises(ValueError, match="is a discriminator's loss"):  # through a partial, as a user wraps one
        takes_real(functools.partial(losses.discriminator_loss, real_target=0.9))
    assert not takes_real(functools.partial(losses.generator_loss_nonsaturating))
    for loss in (losses.discriminator_loss, losses.discriminator_loss_relativistic,
                 losses.critic_loss_wasserstein, losses.discriminator_loss_hinge):
        with pytest.raises(ValueError, match="is a discriminator's loss"):  # would train G to lose
            takes_real(loss)

    class Paired(torch.nn.Module):
        def forward(self, d_real, d_fake):
            return torch.nn.functional.softplus(d_real - d_fake).mean()

    class Classic(torch.nn.Module):
        def forward(self, d_fake):
            return -d_fake.mean()

    assert takes_real(Paired()) and not takes_real(Classic())
