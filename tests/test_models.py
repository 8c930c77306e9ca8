"""Networks have the paper's size at the paper's defaults, named keys, and the right shapes."""
import pytest
import torch

from conftest import tiny_cyclegan
from translator.cyclegan import CycleGAN, ResnetGenerator
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


def test_resize_upsampling_same_weights_named_alike_and_round_trips(tmp_path):
    import translator

    paper, resize = CycleGAN(ngf=8, n_blocks=2), CycleGAN(ngf=8, n_blocks=2, upsample="resize")
    assert count(paper) == count(resize)  # a 3x3 conv either way; only how it upsamples differs
    assert [k for k in resize.state_dict() if ".up." in k] == [k for k in paper.state_dict() if ".up." in k]
    assert isinstance(resize.g_ab.up[0].upsample, torch.nn.Upsample) and not hasattr(paper.g_ab.up[0], "upsample")
    with torch.no_grad():
        assert resize.g_ab(torch.randn(1, 3, 36, 36)).shape == (1, 3, 36, 36)

    resize.save_pretrained(tmp_path / "resize")  # config.json records upsample, so the core rebuilds it
    t = translator.load(str(tmp_path / "resize"))
    assert t.model.g_ab.up[0].upsample.scale_factor == 2


def test_unknown_upsampling():
    with pytest.raises(ValueError, match="upsample must be"):
        ResnetGenerator(upsample="bilinear")
