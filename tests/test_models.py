"""Networks have the paper's size at the paper's defaults, named keys, and the right shapes."""
import pytest
import torch

from conftest import tiny_cyclegan
from translator.cyclegan import CycleGAN, ResnetGenerator
from translator import layers
from translator.layers import PatchDiscriminator, norm_layer


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_defaults_match_the_official_parameter_counts():
    # measured from junyanz's classes (shared/reference/official-implementations.md, section 2.1)
    assert count(ResnetGenerator()) == 11_378_179  # resnet_9blocks, instance norm
    assert count(ResnetGenerator(n_blocks=6)) == 7_837_699
    assert count(PatchDiscriminator(3)) == 2_764_737  # 70x70 PatchGAN, instance norm
    assert count(PatchDiscriminator(6, norm="batch")) == 2_768_705  # pix2pix's conditional D


def test_keys_are_named_not_positional():
    keys = list(CycleGAN(ngf=8, n_blocks=2).state_dict())
    assert keys[0] == "g_ab.stem.conv.weight"
    assert "g_ba.blocks.1.conv2.conv.weight" in keys
    assert not any(k.startswith(("model.", "g_ab.model")) for k in keys)


@pytest.mark.parametrize("size", [32, 64, 100])
def test_generator_keeps_the_shape(size):
    g = tiny_cyclegan().g_ab.eval()
    with torch.no_grad():
        y = g(torch.randn(2, 3, size, size))
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1


def test_patch_discriminator_scores_patches():
    assert PatchDiscriminator(3, ndf=8)(torch.randn(1, 3, 64, 64)).shape == (1, 1, 6, 6)


def test_unknown_norm():
    with pytest.raises(ValueError, match="norm must be one of"):
        norm_layer("group", 8)


def test_adain_normalises_each_image_then_applies_the_given_scale_and_shift():
    block = layers.ConvNormAct(3, 4, 3, padding=1, norm="adain")
    assert not list(block.norm.parameters())  # an adaptive norm has no weights of its own
    x = torch.randn(2, 3, 8, 8)
    gamma, beta = torch.full((2, 4), 2.0), torch.tensor([[1.0] * 4, [-1.0] * 4])
    conv = block.conv(x)
    expected = torch.relu(torch.nn.functional.instance_norm(conv) * 2 + beta[:, :, None, None])
    torch.testing.assert_close(block(x, (gamma, beta)), expected)
    with pytest.raises(ValueError, match="needs a style"):
        block(x)


def test_adalin_mixes_instance_and_layer_norm_by_a_clipped_rho():
    norm = layers.AdaptiveNorm(4, "adalin")
    assert norm.rho.shape == (1, 4, 1, 1) and torch.allclose(norm.rho, torch.tensor(0.9))  # U-GAT-IT's init
    x = torch.randn(1, 4, 6, 6) * 3 + 1
    ones, zeros = torch.ones(1, 4), torch.zeros(1, 4)
    with torch.no_grad():
        norm.rho.fill_(1.5)  # clipped to 1: pure instance norm (unbiased variance, U-GAT-IT's choice)
        x_in = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + 1e-5)
        torch.testing.assert_close(norm(x, (ones, zeros)), x_in)
        norm.rho.fill_(-1.0)  # clipped to 0: pure layer norm
        x_ln = (x - x.mean()) / torch.sqrt(x.var() + 1e-5)
        torch.testing.assert_close(norm(x, (ones * 2, zeros)), 2 * x_ln)
    iln = norm_layer("iln", 4)
    assert {n for n, _ in iln.named_parameters()} == {"rho", "gamma", "beta"}


def test_munit_layer_norm_uses_the_unbiased_std_per_sample():
    norm = layers.LayerNorm(3)
    with torch.no_grad():
        norm.gamma.fill_(1.0)
    x = torch.randn(2, 3, 5, 5)
    flat = x.flatten(1)
    expected = (x - flat.mean(1).view(2, 1, 1, 1)) / (flat.std(1).view(2, 1, 1, 1) + 1e-5)
    torch.testing.assert_close(norm(x), expected)


def test_style_vectors_split_over_the_adaptive_norms_in_munit_order():
    blocks = torch.nn.Sequential(layers.ResBlock(4, "adain"), layers.ResBlock(4, "adain"))
    assert layers.style_params_count(blocks) == 4 * 2 * 4  # two blocks x two norms x (beta, gamma) x 4 channels
    params = torch.arange(32.0).unsqueeze(0)
    styles = layers.split_style(params, blocks)
    assert len(styles) == 4
    gamma, beta = styles[0]
    assert beta.tolist() == [[0.0, 1.0, 2.0, 3.0]] and gamma.tolist() == [[4.0, 5.0, 6.0, 7.0]]  # mean first
    x = torch.randn(1, 4, 6, 6)
    y = blocks[1](blocks[0](x, styles[:2]), styles[2:])
    assert y.shape == x.shape
    with pytest.raises(ValueError, match="adaptive norms need 32"):
        layers.split_style(torch.zeros(1, 30), blocks)


def test_mlp_and_multiscale_discriminator():
    mlp = layers.MLP(8, 32, hidden=16, n_layers=3)
    assert mlp(torch.randn(5, 8)).shape == (5, 32)
    assert [type(m).__name__ for m in mlp.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    d = layers.MultiScaleDiscriminator(3, in_channels=3, ndf=8, n_layers=2)
    outputs = d(torch.randn(2, 3, 64, 64))
    assert [o.shape[-1] for o in outputs] == [14, 6, 2] and all(o.shape[:2] == (2, 1) for o in outputs)


def test_spectral_norm_constrains_the_conv():
    block = layers.ConvNormAct(3, 8, 3, padding=1, norm="none", spectral_norm=True)
    layers.init_weights(block, std=1.0)  # a large raw weight...
    block.train()
    for _ in range(10):  # power iterations settle
        block(torch.randn(1, 3, 8, 8))
    block.eval()
    with torch.no_grad():
        weight = block.conv.weight.flatten(1)
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.05)  # ...is seen with norm 1
    assert "conv.parametrizations.weight.original" in block.state_dict()
