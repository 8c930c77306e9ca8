"""UNIT: the shared layers really are shared, the latent is a unit-variance Gaussian around the encoder's
mean, both streams come from one code, and the trainer runs, resumes and exports what the core loads."""
import json

import torch
from PIL import Image

import translator
from conftest import ROOT, export
from translator.layers import init_weights
from translator.unit import UNIT

TINY = ["--image-size", "32", "--dim", "4", "--n-res", "2", "--n-shared", "1", "--ndf", "4", "--n-layers-d", "2",
        "--log-every", "1", "--sample-every", "2", "--threads", "1"]


def tiny_unit(seed=0):
    torch.manual_seed(seed)
    model = UNIT(image_size=32, dim=4, n_res=2, n_shared=1, domain_a="left", domain_b="right")
    init_weights(model, kind="kaiming")
    return model


def test_defaults_match_the_official_generator_size():
    # two official VAEGen (dim 64, 2 downsamplings, 4 residual blocks) hold 2 x 11,140,483 parameters
    # (shared/reference/official-implementations.md, A8); sharing one block per side saves two of them
    assert sum(p.numel() for p in UNIT(n_shared=0).parameters()) == 2 * 11_140_483
    shared = UNIT(n_shared=1)
    block = sum(p.numel() for p in shared.shared_encoder.parameters())
    assert sum(p.numel() for p in shared.parameters()) == 2 * 11_140_483 - 2 * block


def test_training_through_domain_a_changes_what_domain_b_computes():
    model = tiny_unit()
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        before = model.decode(model.encode(b, "b"), "b").clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    (model.decode(model.encode(a, "a"), "a") - a).abs().mean().backward()  # only domain A's images
    for module in (model.encoder_b, model.decoder_b):
        assert all(p.grad is None for p in module.parameters())  # B's own layers saw nothing
    assert all(p.grad is not None for p in model.shared_encoder.parameters())
    opt.step()
    with torch.no_grad():
        after = model.decode(model.encode(b, "b"), "b")
    assert not torch.allclose(before, after)  # yet B's output moved: the shared blocks are one module
    assert model.encode(a, "a").shape == model.encode(b, "b").shape  # one latent space for both


def test_mean_by_default_a_repeatable_sample_on_request_and_two_streams_from_one_code(tmp_path):
    t = translator.load(str(export(tiny_unit(), tmp_path / "unit")))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        mean = t.translate_tensor(x, "a2b")
        assert torch.equal(mean, t.model.decode(t.model.encode(x, "a"), "b"))
        s1, s2 = t.translate_tensor(x, "a2b", sample=True, seed=1), t.translate_tensor(x, "a2b", sample=True, seed=1)
        assert torch.equal(s1, s2) and not torch.equal(s1, mean)
        z = t.model.encode(x, "a")
        noise = t.latent(x, "a", sample=True, seed=1) - z
        assert abs(noise.std().item() - 1) < 0.15 and abs(noise.mean().item()) < 0.15  # unit variance
    image = Image.new("RGB", (40, 30), (200, 120, 40))
    streams = t.streams(image, direction="b2a")
    assert streams.translation.size == streams.reconstruction.size == (256, 192)
    assert streams.translation.tobytes() == t.translate(image, direction="b2a").tobytes()
    assert streams.reconstruction.tobytes() != streams.translation.tobytes()


def test_trainer_runs_resumes_exports_and_selects(tmp_path):
    from training import select_step
    from training import unit as train_unit
    from test_training import shapes

    for split in ("train", "test"):
        shapes(tmp_path / "data" / f"{split}A", "circles")
        shapes(tmp_path / "data" / f"{split}B", "squares")
    out = tmp_path / "run"
    args = ["--dataroot", str(tmp_path / "data"), "--out", str(out), *TINY, "--save-every", "2",
            "--val-fraction", "0.5", "--snapshot-every", "1"]
    train_unit.main([*args, "--steps", "2"])
    train_unit.main([*args, "--steps", "3", "--resume"])
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 3 and len(info["sessions"]) == 2 and info["family"] == "unit"
    assert info["losses"]["lambda_recon"] == 10 and info["losses"]["lambda_kl"] == 0.01  # the official weights
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3] and {"recon", "kl", "cycle", "cycle_kl", "d"} <= lines[-1].keys()
    t = translator.load(str(out / "export"), "unit")
    assert t.streams(tmp_path / "data" / "testA" / "000.png").translation.mode == "RGB"
    folder = select_step.main(["--run", str(out)])
    assert json.loads((folder / "training.json").read_text())["selected"]["step"] in (1, 2, 3)


def test_identity_departure_asks_each_translator_to_keep_its_own_domain(tmp_path):
    from training import unit as train_unit
    from test_training import shapes

    torch.manual_seed(0)
    spec = translator.FAMILIES["unit"]
    model = spec.network(**spec.tiny_config)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    out = train_unit.GeneratorPass(model)(a, b, cycle=False, identity=True)
    assert torch.equal(out["idt_b"], model.decode(model.encode(b, "a"), "b"))  # the A->B translator on a B image
    assert torch.equal(out["idt_a"], model.decode(model.encode(a, "b"), "a"))
    assert "idt_a" not in train_unit.GeneratorPass(model)(a, b, cycle=False)  # off by default: the paper's losses
    for side, kind in (("A", "circles"), ("B", "squares")):
        shapes(tmp_path / "data" / f"train{side}", kind)
    args = ["--dataroot", str(tmp_path / "data"), *TINY, "--steps", "1"]
    train_unit.main([*args, "--out", str(tmp_path / "paper")])
    train_unit.main([*args, "--out", str(tmp_path / "idt"), "--set", "lambda_identity=5"])
    paper, idt = (json.loads((tmp_path / run / "log.jsonl").read_text().splitlines()[-1]) for run in ("paper", "idt"))
    assert paper["identity"] == 0 and idt["identity"] > 0
    assert json.loads((tmp_path / "idt" / "export" / "training.json").read_text())["losses"]["lambda_identity"] == 5


def test_help_is_the_official_method():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "training.unit", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--n-shared" in done.stdout and "--lambda-cycle-kl" in done.stdout


def test_one_training_step_weighs_each_loss_and_compile_is_in_place(tmp_path):
    """training.unit.training_step: the generator's objective is each logged loss times its weight (the
    identity term among them when asked); build(--compile) compiles the step's modules in place, the
    state-dict keys (checkpoints, exports) unchanged."""
    from training import unit as train_unit
    from training.common import Run

    args = train_unit.parse_args(["--dataroot", str(tmp_path), *TINY, "--out", str(tmp_path / "run"), "--cpu",
                                  "--lambda-gan", "2", "--lambda-recon", "3", "--lambda-kl", "0.5", "--lambda-cycle", "7",
                                  "--lambda-cycle-kl", "0.25", "--set", "lambda_identity=5", "--set", "cycle_blur_a=2"])
    run = Run(args, "training.unit")
    model, discriminators, generator_pass, opt_g, opt_d = train_unit.build(run, args)
    assert generator_pass._compiled_call_impl is None  # no --compile: eager
    seen = []
    run.accelerator.backward = lambda loss: (seen.append(loss.detach()), loss.backward())
    batch = {"a": torch.rand(1, 3, 32, 32) * 2 - 1, "b": torch.rand(1, 3, 32, 32) * 2 - 1}
    losses, loss_d = train_unit.training_step(run, args, generator_pass, discriminators, opt_g, opt_d, batch)
    assert set(losses) == set(train_unit.WEIGHTS) and losses["identity"] > 0 and losses["cycle"] > 0
    ls = losses  # the objective written out by hand, each loss with its own distinct weight
    by_hand = 2 * ls["g_gan"] + 3 * ls["recon"] + 0.5 * ls["kl"] + 7 * ls["cycle"] + 0.25 * ls["cycle_kl"] \
        + 5 * ls["identity"]
    assert torch.allclose(seen[-1], by_hand.detach()) and torch.allclose(seen[0], 2 * loss_d.detach())
    keys = list(model.state_dict())
    args.compile = True
    model, discriminators, generator_pass, *_ = train_unit.build(Run(args, "training.unit"), args)
    assert generator_pass._compiled_call_impl is not None and discriminators.d_a._compiled_call_impl is not None
    assert all(m._compiled_call_impl is None for m in model.modules()) and list(model.state_dict()) == keys
