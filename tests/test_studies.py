"""Studies: batched copies of a GAN train as the single GAN does, and a stored study can be trusted
only while it comes from the current settings."""

import json

import pytest
import torch

from regan_tutorial import nets, plots, studies
from regan_tutorial.losses import js_regularizer
from regan_tutorial.train import AnnealedGamma

# name -> the settings its chapter checks it against (book profile)
STORED = {
    "js_ring": lambda: dict(zip(("common", "arms"), studies.js_ring_study())),
    "js_mnist": lambda: dict(zip(("common", "arms"), studies.js_mnist_study())),
    "leaderboard_ring": lambda: studies.leaderboard_settings("ring"),
    "leaderboard_grid": lambda: studies.leaderboard_settings("grid"),
    "js_mnist_controls": lambda: dict(zip(("common", "arms"), studies.js_mnist_controls())),
    "js_mnist_mechanism": lambda: dict(zip(("common", "arms"), studies.js_mnist_mechanism())),
    "stacked_mnist": lambda: studies.stacked_mnist_settings(),
    "mnist_ablation": lambda: dict(zip(("common", "arms"), studies.mnist_ablation())),
    "dynamics_ring": lambda: dict(zip(("common", "arms"), studies.dynamics_ring_study())),
}


@pytest.mark.parametrize("name", sorted(STORED))
def test_each_stored_study_comes_from_the_current_settings_and_says_what_made_it(name):
    record = studies.load_study(name, STORED[name]())  # raises if the settings changed
    made = record["made_by"]
    assert made["script"].startswith("benchmarks/") and made["commit"] and made["seconds"] > 0
    assert record["rows"]


def test_every_stored_study_is_checked_by_a_test():
    shipped = {p.stem for p in studies.study_path("x").parent.glob("*.json")}
    assert shipped == set(STORED)


def test_a_stored_study_with_other_settings_is_refused_naming_what_differs(tmp_path, monkeypatch):
    monkeypatch.setattr(studies, "study_path", lambda name: tmp_path / f"{name}.json")
    common, arms = studies.js_ring_study(steps=20, copies=2)
    studies.save_study("toy", {"common": common, "arms": arms}, {"a": 1}, "benchmarks/x.py", 1.0)
    assert studies.load_study("toy", {"common": common, "arms": arms})["rows"] == {"a": 1}
    common_b, arms_b = studies.js_ring_study(steps=30, copies=2)
    with pytest.raises(ValueError, match=r"\(arms, common differ\): re-run python benchmarks/x.py"):
        studies.load_study("toy", {"common": common_b, "arms": arms_b})
    with pytest.raises(FileNotFoundError, match="run its script"):
        studies.load_study("missing", {})


def test_the_dynamics_study_trains_the_arms_asked_for_and_the_regularizer_in_equal_time():
    from regan_tutorial.data import ring

    common, arms = studies.dynamics_ring_study(steps=6, copies=2)
    only = {"NS loss, D lr = 10 G lr", "hinge, D lr = 10 G lr"}
    rows = studies.dynamics_ring_rows(ring(), common, arms, only=only)
    assert set(rows) == only and all(len(r["modes"]) == 2 and r["steps"] == 6 for r in rows.values())
    seen = []
    rows = studies.dynamics_ring_rows(ring(), common, arms, report=lambda name, row: seen.append(name))
    assert seen == [*arms, studies.EQUAL_TIME] and list(rows) == seen
    # no fixed step count: as many steps as fit in the plain 10-times run's time
    assert rows[studies.EQUAL_TIME]["steps"] >= 1


def test_the_dynamics_study_refuses_arms_it_does_not_have_before_training_any():
    from regan_tutorial.data import ring

    common, arms = studies.dynamics_ring_study(steps=6, copies=2)
    with pytest.raises(ValueError, match="no such arm: NS loss, D lr = 3 G lr; the arms are: NS loss, D lr = G lr"):
        studies.dynamics_ring_rows(ring(), common, arms, only=["NS loss, D lr = 10 G lr", "NS loss, D lr = 3 G lr"])
    with pytest.raises(ValueError, match="a list of arm names, not the string"):
        studies.dynamics_ring_rows(ring(), common, arms, only="hinge, D lr = 10 G lr")
    seen = []
    without = {k: v for k, v in arms.items() if not k.startswith("JS")}
    with pytest.raises(ValueError, match="needs the arms 'JS gamma = 1, D lr = 10 G lr'; pass only="):
        studies.dynamics_ring_rows(ring(), common, without, report=lambda name, row: seen.append(name))
    assert seen == []  # refused before the first arm trained


def test_settings_are_described_by_what_identifies_them():
    described = studies.describe({"gamma": AnnealedGamma(2.0, 100), "regularizer": js_regularizer, "b": (0.5, 0.9)})
    assert described == {"gamma": {"class": "regan_tutorial.train.AnnealedGamma", "gamma0": 2.0,
                                   "total_steps": 100, "decay": 0.01},
                         "regularizer": "regan_tutorial.losses.js_regularizer", "b": [0.5, 0.9]}
    assert studies.describe(AnnealedGamma(2.0, 100)) != studies.describe(AnnealedGamma(50.0, 100))
    with pytest.raises(ValueError, match="cannot be identified"):
        studies.describe({"gamma": lambda t: 2.0})


def test_an_ensemble_of_image_mlps_runs_each_copy_as_the_single_network_does():
    torch.manual_seed(0)
    d = nets.MLPEnsemble(3, [784, 32, 1], slope=0.2, squeeze=True, dropout=0.5, in_shape=(1, 28, 28))
    g = nets.MLPEnsemble(3, [10, 32, 784], output="tanh", out_shape=(1, 28, 28))
    singles = []
    for k in range(3):
        single = nets.MLPDiscriminator((1, 28, 28), (32,), dropout=0.5)
        with torch.no_grad():
            for j, linear in enumerate(m for m in single.net if isinstance(m, torch.nn.Linear)):
                linear.weight.copy_(d.weights[j][k].T)
                linear.bias.copy_(d.biases[j][k, 0])
        singles.append(single.eval())
    x = torch.randn(3 * 5, 1, 28, 28)
    d.eval()
    expected = torch.cat([singles[k](x[5 * k:5 * (k + 1)]) for k in range(3)])
    torch.testing.assert_close(d(x), expected)
    images = g(torch.randn(6, 10))
    assert images.shape == (6, 1, 28, 28) and images.abs().max() <= 1
    d.train()
    assert not torch.equal(d(x), d(x)), "dropout acts in training mode"
    with pytest.raises(ValueError, match=r"expects input of shape \(3 \* N, 1, 28, 28\), got \(4, 1, 28, 28\)"):
        d(torch.randn(4, 1, 28, 28))
    with pytest.raises(ValueError, match="must hold 784 and 1 values"):
        nets.MLPEnsemble(2, [784, 8, 1], in_shape=(1, 27, 28))


def test_sgd_on_an_ensemble_with_lr_times_copies_steps_each_copy_as_alone():
    """The loss averages over copies, scaling each copy's gradient by 1/copies: lr * copies undoes it."""
    torch.manual_seed(0)
    ens = nets.MLPEnsemble(2, [3, 4, 1], squeeze=True)
    alone = nets.MLPEnsemble(1, [3, 4, 1], squeeze=True)
    with torch.no_grad():
        for a, e in zip(alone.parameters(), ens.parameters()):
            a.copy_(e[:1])
    x = torch.randn(2 * 6, 3)
    for net, lr, rows in ((ens, 0.1 * 2, x), (alone, 0.1, x[:6])):
        opt = torch.optim.SGD(net.parameters(), lr, momentum=0.5)
        for _ in range(3):
            opt.zero_grad()
            net(rows).pow(2).mean().backward()
            opt.step()
    for a, e in zip(alone.parameters(), ens.parameters()):
        torch.testing.assert_close(a[0], e[0])


def test_ensemble_snapshots_hold_every_copy_and_one_copy_can_be_taken_out():
    ring_snapshot = plots.snapshot_2d(torch.randn(7, 2), n=5, copies=3)
    g = nets.MLPEnsemble(3, [2, 8, 2])
    d = nets.MLPEnsemble(3, [2, 8, 1], squeeze=True)
    snap = ring_snapshot(g, d)
    assert snap["samples"].shape == (3, 7, 2) and snap["d"].shape == (3, 5, 5)
    one = plots.copy_snapshots([(10, snap)], 1)
    assert one[0][0] == 10 and torch.equal(one[0][1]["samples"], snap["samples"][1])
    single = plots.snapshot_2d(torch.randn(7, 2), n=5)(nets.MLPGenerator(2, (8,), (2,), output="none"),
                                                       nets.MLPDiscriminator((2,), (8,)))
    assert single["samples"].shape == (7, 2) and single["d"].shape == (5, 5)


def test_a_code_digest_follows_the_formula_and_what_it_calls_not_the_docstring(tmp_path, monkeypatch):
    from regan_tutorial import losses

    def penalty(source):
        """A module-level function ``penalty`` with this body, from a file (inspect reads its source)."""
        path = tmp_path / f"m{abs(hash(source))}.py"
        path.write_text(f"def penalty(x):\n{source}")
        namespace = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        return namespace["penalty"]

    plain = studies.code_digest(penalty('    """Twice the square."""\n    return 2 * x ** 2\n'))
    assert plain == studies.code_digest(penalty('    """Reworded."""\n    # a comment\n    return 2 * x ** 2\n'))
    assert plain != studies.code_digest(penalty('    """Twice the square."""\n    return 3 * x ** 2\n'))
    both = studies.code_digest(losses.r1_r2_regularizer)
    monkeypatch.setitem(losses.r1_r2_regularizer.__globals__, "r2_regularizer", losses.r1_regularizer)
    assert studies.code_digest(losses.r1_r2_regularizer) != both  # R1 + R2's digest covers the R2 it calls


def test_a_code_digest_reads_the_code_that_the_student_edition_withholds(monkeypatch):
    """Chapter 10's student edition withholds the pairing loss's listing (``inspect.getsource`` gives
    a note); the leaderboard's settings check, run in that edition, must still see the code."""
    import inspect

    from regan_tutorial import editions, losses

    before = studies.code_digest(losses.discriminator_loss_relativistic)
    monkeypatch.setattr(inspect, "getsource", inspect.getsource)  # restored after the test
    editions.withhold_sources(["losses.discriminator_loss_relativistic"], "ex-modern-code")
    assert inspect.getsource(losses.discriminator_loss_relativistic).startswith("# losses.")
    assert studies.code_digest(losses.discriminator_loss_relativistic) == before
    assert studies.leaderboard_settings("ring")["code"]  # what the chapter's cell computes


def _doubled_r1(d_real, x_real, d_fake=None, x_fake=None):
    return 2 * d_real.sum()


def _two_std_coverage(samples, centres, std, n_std=2.0):
    return None


def test_a_stored_leaderboard_is_refused_once_a_loss_or_the_scoring_changes(monkeypatch):
    """The same functions, by the same names, with other code (as an edit of losses.py would leave them)."""
    from regan_tutorial import losses, metrics

    studies.load_study("leaderboard_ring", studies.leaderboard_settings("ring"))  # the shipped table
    with monkeypatch.context() as m:
        m.setattr(losses.r1_regularizer, "__code__", _doubled_r1.__code__)
        with pytest.raises(ValueError, match=r"\(code differ\)"):
            studies.load_study("leaderboard_ring", studies.leaderboard_settings("ring"))
    with monkeypatch.context() as m:
        m.setattr(metrics.mode_coverage, "__code__", _two_std_coverage.__code__)
        with pytest.raises(ValueError, match=r"\(scoring differ\)"):
            studies.load_study("leaderboard_ring", studies.leaderboard_settings("ring"))


def test_a_loss_patched_with_a_lambda_refuses_the_stored_leaderboard_instead_of_failing_to_parse(monkeypatch):
    """An outside review: a lambda's source is a line of a statement (here cut mid-call), not a def."""
    from regan_tutorial import losses

    r1 = losses.r1_regularizer
    monkeypatch.setattr(losses, "r1_regularizer", lambda d_real, x_real, d_fake=None, x_fake=None: (
        2 * r1(d_real, x_real)))
    doubled = studies.leaderboard_settings("ring")["code"]
    with pytest.raises(ValueError, match=r"<lambda> cannot be identified in a stored study: use a named"):
        studies.load_study("leaderboard_ring", studies.leaderboard_settings("ring"))
    monkeypatch.setattr(losses, "r1_regularizer", lambda d_real, x_real, d_fake=None, x_fake=None: (
        3 * r1(d_real, x_real)))
    assert studies.leaderboard_settings("ring")["code"] != doubled  # the lambda's own constants count


def test_the_ablation_s_stored_samples_come_back_as_the_images_the_chapter_shows():
    record = studies.load_study("mnist_ablation", dict(zip(("common", "arms"), studies.mnist_ablation())))
    for row in record["rows"].values():
        images = studies.uint8_images(row["samples"])
        assert images.shape == (16, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
        assert len(row["fid"]) == len(row["confident"]) == record["settings"]["common"]["copies"]


def test_a_stored_leaderboard_is_refused_once_its_networks_packing_or_schedule_change(monkeypatch):
    """An outside review: the digests covered the losses but not the study's own parts."""
    from regan_tutorial import data, metrics, nets, train

    def forward(self, x):
        return self.net(x.flatten(1))  # another body, as an edit of nets.py would leave it

    settings, stacked = studies.leaderboard_settings("ring"), studies.stacked_mnist_settings()
    for owner, name in ((nets.Packed, "forward"), (nets.MLPEnsemble, "forward"), (train.AnnealedGamma, "__call__")):
        with monkeypatch.context() as m:
            m.setattr(getattr(owner, name), "__code__", forward.__code__)
            changed = studies.leaderboard_settings("ring")
            assert changed["study code"] != settings["study code"], (owner, name)
            assert changed["code"] == settings["code"]
    def other_stacking(digits, n, channels=2, generator=None):
        return digits  # another body of data.stacked_mnist

    with monkeypatch.context() as m:
        m.setattr(data.stacked_mnist, "__code__", other_stacking.__code__)
        with pytest.raises(ValueError, match=r"\(code differ\)"):
            studies.load_study("stacked_mnist", studies.stacked_mnist_settings())
    assert studies.stacked_mnist_settings() == stacked
    # a second outside review: what the first digests still missed
    with monkeypatch.context() as m:  # a property (the stored reverse KL), in the scoring of both
        m.setattr(metrics.ModeCoverage, "reverse_kl", property(lambda c: 2 * metrics.mode_histogram_kl(c.counts)))
        assert studies.leaderboard_settings("ring")["scoring"] != settings["scoring"]
        assert studies.stacked_mnist_settings()["code"] != stacked["code"]
    with monkeypatch.context() as m:  # a helper of a function under @torch.no_grad()
        m.setattr(metrics._check_images, "__code__", forward.__code__)
        assert studies.stacked_mnist_settings()["code"] != stacked["code"]
    for owner, name in ((metrics.DigitClassifier, "forward"), (studies, "stacked_rows")):
        with monkeypatch.context() as m:
            m.setattr(getattr(owner, name), "__code__", forward.__code__)
            assert studies.stacked_mnist_settings()["code"] != stacked["code"], name
    with monkeypatch.context() as m:
        m.setattr(studies.coverage_rows, "__code__", forward.__code__)
        assert studies.leaderboard_settings("ring")["study code"] != settings["study code"]
    with monkeypatch.context() as m:  # a module constant that a network reads
        m.setitem(nets.OUTPUTS, "none", torch.nn.Tanh)
        assert studies.leaderboard_settings("ring")["study code"] != settings["study code"]
