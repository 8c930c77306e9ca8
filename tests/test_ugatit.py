"""U-GAT-IT: the official sizes, heatmaps computed from the model's own weights for each input (checked
against an independent recomputation), rho kept in [0, 1], and a trainer that runs, resumes and exports
what the core loads, discriminators included."""
import json

import pytest

import torch
import torch.nn.functional as F
from PIL import Image

import translator
from conftest import export
from translator.layers import init_weights
from translator.ugatit import Discriminator, Generator, UGATIT

TINY = ["--image-size", "32", "--ngf", "4", "--n-blocks", "1", "--ndf", "4", "--n-layers-global", "4",
        "--n-layers-local", "3", "--log-every", "1", "--sample-every", "2", "--threads", "1"]


def tiny_ugatit(seed=0):
    torch.manual_seed(seed)
    model = UGATIT(image_size=32, ngf=4, n_blocks=1, ndf=4, n_layers_global=4, n_layers_local=3,
                   domain_a="left", domain_b="right")
    init_weights(model)
    return model


def test_the_official_sizes():
    # znxlwm/UGATIT-pytorch at 256 px (official-implementations.md, section 7.1 and A11-A14)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(Generator(64, 4, 256, light=True)) == 10_589_888
    assert count(Generator(64, 4, 256, light=False)) == 278_959_808
    assert count(Discriminator(64, 7)) == 53_130_176 and count(Discriminator(64, 5)) == 3_290_560


def test_the_generator_heatmap_is_its_own_cam_recomputed_independently():
    g = tiny_ugatit().gen_ab.eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        _, cam_logit, heatmap = g(x)
        features = g.down(x)  # recompute from the feature maps and the classifier weights
        w_gap, w_gmp = g.cam.gap_fc.weight[0], g.cam.gmp_fc.weight[0]
        expected_logits = torch.stack([(features.mean((2, 3)) * w_gap).sum(1), (features.amax((2, 3)) * w_gmp).sum(1)], 1)
        fused = F.relu(F.conv2d(torch.cat([features * w_gap[None, :, None, None], features * w_gmp[None, :, None, None]], 1),
                                g.cam.conv1x1.weight, g.cam.conv1x1.bias))
        torch.testing.assert_close(cam_logit, expected_logits)
        torch.testing.assert_close(heatmap, fused.sum(1, keepdim=True))
        other = g(torch.rand(1, 3, 32, 32) * 2 - 1)[2]
    assert not torch.allclose(heatmap, other)  # a different input, a different map


def test_attention_overlays_and_probability(tmp_path):
    t = translator.load(str(export(tiny_ugatit(), tmp_path / "u")))
    image = Image.new("RGB", (60, 40), (250, 200, 40))
    result = t.attention(image, direction="b2a")
    assert result.translation.size == result.generator_attention.size == result.global_attention.size == (256, 171)
    assert 0 <= result.source_probability <= 1 and "%" in result.summary
    assert result.translation.tobytes() == t.translate(image, direction="b2a").tobytes()
    assert result.generator_attention.tobytes() != t.attention(image, opacity=0.9).generator_attention.tobytes()


def test_trainer_runs_resumes_keeps_rho_in_range_and_exports_the_discriminators(tmp_path):
    from training import ugatit as train_ugatit
    from test_training import shapes

    for split in ("train", "test"):
        shapes(tmp_path / "data" / f"{split}A", "circles")
        shapes(tmp_path / "data" / f"{split}B", "squares")
    out = tmp_path / "run"
    args = ["--dataroot", str(tmp_path / "data"), "--out", str(out), *TINY, "--save-every", "2",
            "--set", "cycle_blur_a=4"]  # the blurred cycle of the Noto <-> Twemoji recipes
    train_ugatit.main([*args, "--steps", "2"])
    model = train_ugatit.main([*args, "--steps", "3", "--resume"])
    rhos = [m.rho for m in model.modules() if hasattr(m, "rho")]
    assert rhos and all(0 <= r.min() and r.max() <= 1 for r in rhos)
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 3 and info["losses"]["lambda_cam"] == 1000
    assert (info["losses"]["cycle_blur_a"], info["losses"]["cycle_blur_b"]) == (4.0, 0.0)
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert {"g_gan", "cycle", "identity", "cam", "d"} <= record.keys()
    t = translator.load(str(out / "export"), "ugatit")
    assert any(k.startswith("d_global_a.") for k in t.model.state_dict())
    assert t.attention(tmp_path / "data" / "testA" / "000.png").local_attention.mode == "RGB"


def test_cyclegans_departures_reach_the_ugatit_trainer(tmp_path):
    """cycle_noise perturbs each translation before it goes back; lambda_tv_* taxes the translations' grain
    (the shipped CycleGAN's loss balance, which U-GAT-IT version 2 tries): off by default, logged and recorded."""
    from training import ugatit as train_ugatit
    from test_training import shapes

    model = tiny_ugatit()
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    plain = train_ugatit.GeneratorPass(model)(a, b)
    assert torch.equal(plain["rec_a"], model.gen_ba(model.gen_ab(a)[0])[0])  # no noise: the paper's cycle
    torch.manual_seed(1)
    noisy = train_ugatit.GeneratorPass(model, cycle_noise=0.5)(a, b)
    assert torch.equal(noisy["fake_b"], plain["fake_b"]) and not torch.equal(noisy["rec_a"], plain["rec_a"])
    for split in ("train",):
        shapes(tmp_path / "data" / f"{split}A", "circles")
        shapes(tmp_path / "data" / f"{split}B", "squares")
    args = ["--dataroot", str(tmp_path / "data"), *TINY, "--steps", "1"]
    train_ugatit.main([*args, "--out", str(tmp_path / "tv"), "--set", "lambda_tv_b2a=4", "--set", "cycle_noise=0.1"])
    record = json.loads((tmp_path / "tv" / "log.jsonl").read_text().splitlines()[-1])
    assert record["tv_b2a"] > 0 and {"g_gan", "cycle", "identity", "cam", "d"} <= record.keys()
    losses = json.loads((tmp_path / "tv" / "export" / "training.json").read_text())["losses"]
    assert (losses["lambda_tv_b2a"], losses["lambda_tv_a2b"], losses["cycle_noise"]) == (4.0, 0.0, 0.1)


def test_one_training_step_weighs_each_loss_and_compile_is_in_place(tmp_path):
    """training.ugatit.training_step: the generator's objective is each loss times its weight (a loss of
    weight 0 left out); build(--compile) compiles the two passes in place and never the exported networks
    (the moving average is a deep copy of them), whose keys stay as they were."""
    from training import ugatit as train_ugatit
    from training.common import Run

    args = train_ugatit.parse_args(["--dataroot", str(tmp_path), *TINY, "--out", str(tmp_path / "run"), "--cpu",
                                    "--lambda-gan", "2", "--lambda-cycle", "3", "--lambda-identity", "5",
                                    "--lambda-cam", "7", "--set", "lambda_tv_b2a=11", "--set", "cycle_noise=0.1"])
    run = Run(args, "training.ugatit")
    model, generator_pass, discriminator_pass, opt_g, opt_d = train_ugatit.build(run, args)
    assert generator_pass._compiled_call_impl is None and generator_pass.cycle_noise == 0.1
    seen = []
    run.accelerator.backward = lambda loss: (seen.append(loss.detach()), loss.backward())
    batch = {"a": torch.rand(1, 3, 32, 32) * 2 - 1, "b": torch.rand(1, 3, 32, 32) * 2 - 1}
    ls, loss_d = train_ugatit.training_step(run, args, model, generator_pass, discriminator_pass, opt_g, opt_d, batch)
    # the objective written out by hand (tv_a2b is logged, but its weight is 0)
    by_hand = 2 * ls["g_gan"] + 3 * ls["cycle"] + 5 * ls["identity"] + 7 * ls["cam"] + 11 * ls["tv_b2a"]
    assert torch.allclose(seen[-1], by_hand.detach()) and ls["tv_a2b"] > 0
    assert torch.allclose(seen[0], 2 * loss_d.detach())
    keys = list(model.state_dict())
    args.compile = True
    model, generator_pass, discriminator_pass, *_ = train_ugatit.build(Run(args, "training.ugatit"), args)
    assert generator_pass._compiled_call_impl is not None and discriminator_pass._compiled_call_impl is not None
    assert all(m._compiled_call_impl is None for m in model.modules()) and list(model.state_dict()) == keys


def test_sizes_the_networks_cannot_take_are_refused_at_construction():
    with pytest.raises(ValueError, match="multiple of 4"):
        UGATIT(image_size=30, ngf=4, n_blocks=1, ndf=4, n_layers_global=4, n_layers_local=3)
    with pytest.raises(ValueError, match="n_layers_global = 7 does not fit 64-px images .*at most 6"):
        UGATIT(image_size=64, ngf=4, n_blocks=1, ndf=4)  # the official 7-layer global discriminator
    with pytest.raises(ValueError, match="n_layers_local = 2"):
        UGATIT(image_size=64, ngf=4, n_blocks=1, ndf=4, n_layers_global=6, n_layers_local=2)
    model = UGATIT(image_size=64, ngf=4, n_blocks=1, ndf=4, n_layers_global=6, n_layers_local=3).eval()
    with torch.no_grad():  # the largest accepted depth runs
        assert model.d_global_a(torch.zeros(1, 3, 64, 64))[0].shape[-1] >= 1
    with pytest.raises(ValueError, match="direction must be"):
        model.generator("ab")


def test_opacity_must_be_a_number_from_0_to_1(tmp_path):
    from translator.errors import OptionsError

    t = translator.load(str(export(tiny_ugatit(), tmp_path / "m")), "ugatit", allow_local=True)
    image = Image.new("RGB", (40, 30), (200, 60, 60))
    for bad in (None, "0.5", float("nan"), 1.5, -0.1, True):
        with pytest.raises(OptionsError, match="opacity"):
            t.attention(image, opacity=bad)
    assert t.attention(image, opacity=0).translation.size == (256, 192)  # shown at display size


def test_compile_speed_builds_each_trainers_own_step(tmp_path, monkeypatch):
    """training.compile_speed times the trainer's own training_step; eager here (compiling is minutes)."""
    from training import compile_speed

    for name, flags in (("ugatit", TINY), ("unit", ["--image-size", "32", "--dim", "4", "--n-res", "2",
                                                     "--n-shared", "1", "--ndf", "4", "--n-layers-d", "2"])):
        trainer = compile_speed.TRAINERS[name]
        args = trainer.parse_args(["--dataroot", str(tmp_path), *flags, "--out", str(tmp_path / name), "--cpu"])
        step = compile_speed.build(trainer, args, compiled=False)
        losses, loss_d = step({"a": torch.rand(1, 3, 32, 32) * 2 - 1, "b": torch.rand(1, 3, 32, 32) * 2 - 1})
        assert set(losses) == set(trainer.WEIGHTS) and torch.isfinite(loss_d)
