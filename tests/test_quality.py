"""The reference classifier and the sample-quality metric built on it (real MNIST subset, offline)."""

import numpy as np
import pytest
import scipy.linalg
import torch

from regan_tutorial import exercises, metrics


def test_shipped_classifier_is_accurate_on_held_out_digits(mnist, classifier):
    assert metrics.accuracy(classifier, mnist[1]) >= 0.96


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # dead ReLU features: singular covariances
def test_frechet_distance_matches_an_independent_computation(mnist, classifier):
    train, held_out = mnist
    fake, real = train.images[::7][:600], held_out.images[::2]
    quality = metrics.sample_quality(fake, real, classifier)
    with torch.no_grad():
        f, r = (classifier.features(x).double().numpy() for x in (fake, real))
    covmean = scipy.linalg.sqrtm(np.cov(f, rowvar=False) @ np.cov(r, rowvar=False)).real
    expected = np.sum((f.mean(0) - r.mean(0)) ** 2) + np.trace(np.cov(f, rowvar=False) + np.cov(r, rowvar=False) - 2 * covmean)
    assert quality.fid == pytest.approx(expected, rel=1e-3)


def test_real_digits_score_far_better_than_noise(mnist, classifier):
    train, held_out = mnist
    some = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1000]  # files are sorted by digit
    real = metrics.sample_quality(train.images[some], held_out.images, classifier)
    noise = metrics.sample_quality(torch.rand(1000, 1, 28, 28) * 2 - 1, held_out.images, classifier)
    assert real.fid < noise.fid / 10
    assert real.confident > 0.9 and min(real.histogram) > 50
    # one repeated digit: every sample confident, but a single bin
    ones = train.images[train.labels == 1][:1].repeat(500, 1, 1, 1)
    collapsed = metrics.sample_quality(ones, held_out.images, classifier)
    assert collapsed.histogram[1] == 500 and collapsed.fid > real.fid


def test_images_in_the_wrong_range_or_shape_are_refused(mnist, classifier):
    real = mnist[1].images
    with pytest.raises(ValueError, match=r"\[-1, 1\].*2 \* x - 1"):
        metrics.sample_quality((real + 1) * 127.5, real, classifier)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        metrics.sample_quality(real.view(len(real), -1), real, classifier)


def test_foreign_weights_are_refused(tmp_path):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="does not hold DigitClassifier weights"):
        metrics.load_classifier(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="python -m regan_tutorial.metrics"):
        metrics.load_classifier(tmp_path / "missing.pt")


def test_discriminator_checkers(capsys):
    from regan_tutorial.losses import discriminator_loss

    conv = lambda *head: torch.nn.Sequential(  # a student's convolutional discriminator, written out
        torch.nn.Conv2d(1, 8, 4, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(), *head)
    torch.manual_seed(0)
    assert exercises.check_discriminator(conv(torch.nn.Linear(8 * 14 * 14, 1), torch.nn.Flatten(0)))
    assert exercises.check_discriminator(conv(torch.nn.Linear(8 * 14 * 14, 1)))  # (N, 1), which the losses accept
    assert not exercises.check_discriminator(conv(torch.nn.Linear(8 * 14 * 14, 1), torch.nn.Sigmoid()))
    assert not exercises.check_discriminator(conv(torch.nn.Linear(8 * 14 * 14, 2)))
    naive = lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()
    assert not exercises.check_discriminator_loss(naive)
    assert not exercises.check_discriminator_loss(lambda r, f: discriminator_loss(f, r))
    assert not exercises.check_discriminator_loss(lambda r, f: discriminator_loss(r, f) / 2)
    out = capsys.readouterr().out
    for words in ("ends in a sigmoid", "one logit per image", "underflows", "swapped", "half the loss"):
        assert words in out, words


def test_train_classifier_learns_and_is_unsure_about_non_digits(mnist):
    train, held_out = mnist
    model = metrics.train_classifier(train, steps=150, seed=0)
    assert metrics.accuracy(model, held_out) > 0.8  # chance is 0.1
    outliers = metrics.not_digits(held_out.images[:200], torch.Generator().manual_seed(0))
    assert outliers.shape == (200, 1, 28, 28) and outliers.min() >= -1 and outliers.max() <= 1
    with torch.no_grad():
        confident = torch.softmax(model(outliers), 1).max(1).values > 0.9
    assert confident.float().mean() < 0.1


def test_code_assignment_recovers_a_permutation_of_digits(mnist, classifier):
    _, held_out = mnist
    mapping = [3, 7, 0, 1, 9, 2, 8, 4, 6, 5]  # code k draws digit mapping[k]
    codes = torch.tensor([mapping.index(d) for d in held_out.labels.tolist()])
    found, accuracy = metrics.code_assignment(classifier, held_out.images, codes)
    assert found == mapping and accuracy == metrics.accuracy(classifier, held_out)
    shuffled, chance = metrics.code_assignment(classifier, held_out.images, torch.randint(10, (len(held_out),)))
    assert chance < 0.2
