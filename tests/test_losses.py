"""The GAN losses and penalties every trainer uses, on inputs whose answer is known."""
import pytest
import torch

from training.losses import diff_augment, feature_matching, gan_loss, gradient_penalty, r1_penalty


def test_lsgan_and_vanilla_are_zero_or_known_at_their_targets():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert gan_loss(ones, True, "lsgan") == 0 and gan_loss(zeros, False, "lsgan") == 0
    assert gan_loss(zeros, True, "lsgan") == 1
    assert gan_loss(zeros, True, "vanilla") == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert gan_loss(torch.full((4,), 20.0), True, "vanilla") < 1e-6


def test_hinge_is_different_for_the_two_players():
    confident = torch.tensor([2.0, 3.0])
    assert gan_loss(confident, True, "hinge") == 0  # D: real scored above 1 costs nothing
    assert gan_loss(confident, False, "hinge") == pytest.approx(3.5)  # D: fakes must go below -1
    assert gan_loss(confident, True, "hinge", for_discriminator=False) == pytest.approx(-2.5)  # G: -D(fake)
    with pytest.raises(ValueError, match="hinge generator"):
        gan_loss(confident, False, "hinge", for_discriminator=False)
    with pytest.raises(ValueError, match="one of"):
        gan_loss(confident, True, "wasserstein")


def test_multiscale_predictions_are_summed_over_scales():
    scales = [torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 1, 1)]
    assert gan_loss(scales, True, "lsgan") == pytest.approx(2.0)  # each scale's mean, summed


def test_r1_and_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # |w| = 5
    critic = lambda x: x.flatten(1) @ w  # noqa: E731

    real = torch.randn(6, 2, requires_grad=True)
    assert r1_penalty(critic(real), real).item() == pytest.approx(25.0)  # |grad|^2 = 25 everywhere
    fake = torch.randn(6, 2)
    assert gradient_penalty(critic, real.detach(), fake).item() == pytest.approx(16.0)  # (5 - 1)^2


def test_feature_matching_compares_each_layer_and_treats_real_as_fixed():
    fake = [torch.zeros(1, 2, 3, 3, requires_grad=True), torch.ones(1, 4)]
    real = [torch.ones(1, 2, 3, 3, requires_grad=True), torch.ones(1, 4)]
    loss = feature_matching(fake, real)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert fake[0].grad is not None and real[0].grad is None
    with pytest.raises(ValueError):
        feature_matching(fake, real[:1])


def test_diff_augment_moves_all_channels_together_and_passes_gradients():
    torch.manual_seed(0)
    dot = torch.zeros(64, 6, 16, 16)
    dot[:, :, 8, 8] = 1  # the same pixel lit in the drawing's channels and the image's
    shifted = diff_augment(dot, "translation")
    for image in shifted:
        lit = image.nonzero()
        assert len(lit) == 6 and len(set(map(tuple, lit[:, 1:].tolist()))) == 1  # one place for all channels
        assert (lit[0, 1:] - 8).abs().max() <= 2  # at most 1/8 of the side
    assert len({tuple(image.nonzero()[0, 1:].tolist()) for image in shifted}) > 5  # a draw per image

    holes = diff_augment(torch.ones(8, 3, 16, 16), "cutout")
    assert ((holes == 0).sum((1, 2, 3)) == 3 * 8 * 8).all()  # one half-side square in every channel

    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, "color,translation,cutout")
    y.sum().backward()
    assert y.shape == x.shape and x.grad.abs().sum() > 0 and not torch.equal(y, x)
    assert torch.equal(diff_augment(x, ""), x)
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        diff_augment(x, "rotate")
