"""A few real training steps on tiny generated data: the trainer runs, resumes, exports exactly what the
core loads, and the data loaders read a user's own folders."""
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import translator
from conftest import ROOT, export, tiny_cyclegan
from training import cyclegan as train_cyclegan
from training.common import frozen
from training.losses import ImagePool, blurred_l1, total_variation
from training.data import emoji
from training.data.folders import ClassFolders, PairedDataset, UnpairedDataset, is_held_out, list_images

TINY = ["--image-size", "32", "--ngf", "4", "--n-blocks", "1", "--ndf", "4", "--n-layers-d", "2",
        "--log-every", "1", "--sample-every", "2", "--threads", "1"]


def shapes(folder, kind: str, n: int = 6, size: int = 40):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(kind))
    for i in range(n):
        image = Image.new("RGBA" if i % 2 else "RGB", (size, size + i), "white")
        draw = ImageDraw.Draw(image)
        x, y = rng.integers(4, 14, 2)
        box = (int(x), int(y), int(x) + 20, int(y) + 20)
        (draw.ellipse if kind == "circles" else draw.rectangle)(box, fill=(200, 40, 40) if kind == "circles" else (40, 40, 200))
        image.save(folder / f"{i:03d}.png")


@pytest.fixture
def dataroot(tmp_path):
    for split in ("train", "test"):
        shapes(tmp_path / "data" / f"{split}A", "circles")
        shapes(tmp_path / "data" / f"{split}B", "squares")
    return tmp_path / "data"


def test_cyclegan_trains_exports_and_loads(dataroot, tmp_path):
    out = tmp_path / "run"
    train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(out), "--steps", "3", "--domain-a", "circles",
                         "--domain-b", "squares", *TINY])
    export = out / "export"
    assert sorted(p.name for p in export.iterdir()) == ["README.md", "config.json", "model.safetensors", "training.json"]
    info = json.loads((export / "training.json").read_text())
    assert info["steps"] == 3 and info["family"] == "cyclegan" and "--dataroot" in info["command"]
    assert info["losses"]["lambda_cycle_a"] == info["losses"]["lambda_cycle_b"] == 10.0  # the paper's
    assert info["losses"]["cycle_blur_a"] == info["losses"]["cycle_noise"] == info["losses"]["lambda_tv_a2b"] == 0.0
    assert info["recipe"] == {"file": None}
    card = (export / "README.md").read_text()
    assert "Steps: 3" in card and info["command"] in card and "circles ↔ squares" in card
    assert len(list((out / "samples").glob("*.png"))) == 2  # steps 2 and 3
    lines = (out / "log.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(np.isfinite(v) for v in json.loads(lines[-1]).values())

    from safetensors import safe_open
    with safe_open(str(export / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # shipped as fp16
    t = translator.load(str(export))
    assert t.domains == ("circles", "squares")
    assert t.translate(dataroot / "testA" / "000.png").size == (256, 256)


def test_push_to_hub_uploads_what_the_core_then_loads(dataroot, tmp_path, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_the_fake_hub")
    out = tmp_path / "run"
    train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(out), "--steps", "2", *TINY,
                         "--push-to-hub", "someone/tiny-cyclegan"])
    export = out / "export"
    (sha,) = fake_hub.repos["someone/tiny-cyclegan"]
    uploaded = fake_hub.repos["someone/tiny-cyclegan"][sha]
    assert uploaded == {p.name: p.read_bytes() for p in export.iterdir()}  # the whole export, byte for byte
    assert fake_hub.commit_messages["someone/tiny-cyclegan"] == ["run: 2 steps"]

    from_hub = translator.load("someone/tiny-cyclegan", revision=sha)
    assert from_hub.provenance.source == "hub"
    image = dataroot / "testA" / "000.png"
    assert np.array_equal(np.asarray(from_hub.translate(image)), np.asarray(translator.load(str(export)).translate(image)))



def test_a_deeper_network_does_not_warm_start_from_a_shallower_one(dataroot, tmp_path):
    """Extra residual blocks are not an optional head: warm-starting 2 blocks from a 1-block run is refused
    (random blocks inserted mid-network would only be a printed line otherwise)."""
    train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(tmp_path / "one"), "--steps", "1", *TINY])
    for source in ("export", "checkpoint"):
        with pytest.raises(SystemExit, match=r"lacks (model\.)?g_ab\.blocks\.1\."):
            train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(tmp_path / "two"), "--steps", "0", *TINY,
                                 "--n-blocks", "2", "--warm-start", str(tmp_path / "one" / source)])

def test_resume_continues_the_same_run(dataroot, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--dataroot", str(dataroot), "--out", str(out), *TINY, "--save-every", "2"]
    train_cyclegan.main([*args, "--steps", "2"])
    capsys.readouterr()
    train_cyclegan.main([*args, "--steps", "4", "--resume", "--lambda-cycle-a", "2", "--lambda-cycle-b", "8",
                         "--set", "cycle_blur_a=4", "--set", "cycle-blur-b=1.5", "--set", "lambda_tv_b2a=2",
                         "--threads", "1"])
    # allowed, but said: every changed setting, and none of the session's own flags (--resume, --threads)
    said = next(line for line in capsys.readouterr().out.splitlines() if "other than the checkpoint's" in line)
    assert "lambda_cycle_b 10.0 -> 8.0" in said and "steps 2.0 -> 4.0" in said and "cycle_blur_a" in said
    assert "resume" not in said.split(":", 1)[1] and "threads" not in said and "set " not in said
    # the same settings written another way (a --set number without its point, a renamed spelling) are no change
    train_cyclegan.main([*args, "--steps", "5", "--resume", "--lambda-cycle-a", "2", "--set", "lambda_cycle_b=8",
                         "--set", "cycle-blur-a=4", "--set", "cycle_blur_b=1.5", "--set", "lambda_tv_b2a=2"])
    said = [line for line in capsys.readouterr().out.splitlines() if "other than the checkpoint's" in line]
    assert said == ["resumed with settings other than the checkpoint's: steps 4.0 -> 5.0"], said
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 5 and len(info["sessions"]) == 3 and "--resume" in info["sessions"][1]
    assert (info["losses"]["lambda_cycle_a"], info["losses"]["lambda_cycle_b"]) == (2.0, 8.0)  # a new recipe
    assert (info["losses"]["cycle_blur_a"], info["losses"]["cycle_blur_b"]) == (4.0, 1.5)  # departures by --set
    assert (info["losses"]["lambda_tv_a2b"], info["losses"]["lambda_tv_b2a"]) == (0.0, 2.0)
    assert all({"tv_a2b", "tv_b2a"} <= json.loads(line).keys() for line in (out / "log.jsonl").read_text().splitlines())
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]


def test_max_minutes_stops_at_a_log_step_with_everything_written_and_resumes(dataroot, tmp_path):
    out = tmp_path / "run"
    args = ["--dataroot", str(dataroot), "--out", str(out), *TINY, "--log-every", "2", "--sample-every", "100",
            "--steps", "50"]
    train_cyclegan.main([*args, "--max-minutes", "0"])  # the budget is gone at the first log step
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 2 and json.loads((out / "checkpoint" / "run.json").read_text())["step"] == 2
    assert [p.name for p in (out / "samples").glob("*.png")] == ["0000002.png"]  # drawn at the stop
    train_cyclegan.main([*args, "--max-minutes", "0", "--resume"])  # goes on, and stops at the next log step
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 4 and len(info["sessions"]) == 2


def test_ema_is_exported_and_survives_resume(dataroot, tmp_path):
    from safetensors.torch import load_file
    out = tmp_path / "run"
    args = ["--dataroot", str(dataroot), "--out", str(out), *TINY, "--save-every", "2", "--set", "ema=0.5"]
    train_cyclegan.main([*args, "--steps", "2"])
    last = train_cyclegan.main([*args, "--steps", "4", "--resume"]).state_dict()
    average = load_file(out / "checkpoint" / "ema.safetensors")
    assert int(average["n_averaged"]) == 4  # the average was carried over the resume, not restarted
    exported = load_file(out / "export" / "model.safetensors")
    assert exported.keys() == last.keys()
    for key, value in exported.items():
        torch.testing.assert_close(value.float(), average[f"module.{key}"].half().float())
    assert any(not torch.allclose(exported[k].float(), last[k].half().float()) for k in exported)
    assert json.loads((out / "export" / "training.json").read_text())["ema"] == 0.5
    assert "moving average of the generator (decay 0.5)" in (out / "export" / "README.md").read_text()


def test_two_processes_through_torchrun(dataroot, tmp_path):
    """Multi-process data parallel (gloo on CPU; the same code path is NCCL on GPUs): each process trains on
    its own shard, and gradient averaging keeps the two copies of the weights identical. With --max-minutes
    spent, both stop at the same (first) log step: a process that went on alone would hang in a collective."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           str(ROOT / "tests" / "ddp_ranks.py"), "--dataroot", str(dataroot), "--out", str(out),
                           "--batch-size", "2", *TINY, "--steps", "50", "--max-minutes", "0"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["processes"] == 2 and info["command"].startswith("torchrun --nproc_per_node 2")
    assert info["steps"] == 1

    from safetensors.torch import load_file
    rank0, rank1 = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    initial = tiny_initial_weights(dataroot, tmp_path)
    assert rank0.keys() == rank1.keys() == initial.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # in step across processes
    assert not all(torch.equal(rank0[k], initial[k]) for k in rank0)  # and actually trained
    assert sorted(json.loads((out / "seen-rank0.json").read_text())) != \
        sorted(json.loads((out / "seen-rank1.json").read_text()))  # on different images


def tiny_initial_weights(dataroot, tmp_path) -> dict:
    """The weights a 0-step run starts from (same seed): what training must have moved away from."""
    model = train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(tmp_path / "zero"), "--steps", "0", *TINY])
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_frozen_blocks_parameter_gradients_only():
    net = torch.nn.Linear(2, 1)
    x = torch.ones(1, 2, requires_grad=True)
    with frozen(net):
        net(x).sum().backward()
    assert net.weight.grad is None and x.grad is not None and net.weight.requires_grad


def test_cycle_noise_reaches_only_the_way_back():
    from translator.cyclegan import CycleGAN
    torch.manual_seed(0)
    model = CycleGAN(32, 3, 4, 1, "instance", "a", "b")
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    clean, noisy = train_cyclegan.GeneratorPass(model, True), train_cyclegan.GeneratorPass(model, True, cycle_noise=0.1)
    with torch.no_grad():
        c1, c2, n1, n2 = clean(a, b), clean(a, b), noisy(a, b), noisy(a, b)
    for key in ("fake_a", "fake_b", "idt_a", "idt_b"):  # what the discriminators and identity losses see
        assert torch.equal(c1[key], n1[key])
    for key in ("rec_a", "rec_b"):
        assert torch.equal(c1[key], c2[key])  # the paper's cycle is deterministic
        assert not torch.equal(n1[key], n2[key]) and not torch.equal(n1[key], c1[key])


def test_blurred_cycle_loss_ignores_fine_detail_only():
    torch.manual_seed(0)
    original = torch.rand(1, 3, 32, 32) * 2 - 1
    grain = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 0.4 - 0.2).expand(1, 3, 32, 32)
    tinted = original + torch.tensor([0.3, 0.0, -0.3]).view(1, 3, 1, 1)  # a colour change is coarse
    assert blurred_l1(original + grain, original) == pytest.approx(0.2)  # the paper's L1
    assert blurred_l1(original + grain, original, 1.5) < 0.02
    assert blurred_l1(tinted, original, 1.5) == pytest.approx(0.2, abs=1e-5)


def test_total_variation_charges_grain_not_edges_or_ramps():
    size = 32
    flat = torch.zeros(1, 3, size, size)
    edge = flat.clone()
    edge[..., size // 2:] = 1.0  # one sharp vertical edge of height 1
    ramp = torch.linspace(0, 1, size).expand(1, 3, size, size)  # the same rise, spread over the row
    grain = ((torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2 * 0.2).expand(1, 3, size, size)
    assert total_variation(flat) == 0
    assert total_variation(edge) == pytest.approx(1 / (size - 1)) and total_variation(ramp) == pytest.approx(1 / (size - 1))
    assert total_variation(grain) == pytest.approx(0.4)  # an 0.2 checkerboard costs 12x a full-height edge
    assert total_variation(edge + grain) > total_variation(edge) + 0.3


def test_image_pool_returns_old_fakes_once_full():
    pool = ImagePool(size=2)
    first = pool(torch.zeros(2, 3, 4, 4))
    assert torch.equal(first, torch.zeros(2, 3, 4, 4))
    outs = torch.cat([pool(torch.ones(1, 3, 4, 4)) for _ in range(50)])
    assert (outs.amax(dim=(1, 2, 3)) == 0).any()  # some were swapped for stored zeros


def test_paired_and_class_folders(tmp_path, dataroot):
    paired = PairedDataset(dataroot / "trainA", dataroot / "trainB", size=32, augment=True)
    item = paired[0]
    assert item["a"].shape == item["b"].shape == (3, 32, 32)
    side = tmp_path / "sbs"
    side.mkdir()
    Image.new("RGB", (80, 40), "red").save(side / "x.png")
    pair = PairedDataset(side, None, size=16, augment=False)[0]
    assert pair["a"].shape == (3, 16, 16)
    classes = ClassFolders(dataroot, size=16)
    assert classes.classes == ["testA", "testB", "trainA", "trainB"] and len(classes) == 24
    assert UnpairedDataset(dataroot / "trainA", dataroot / "trainB", 32)[3]["b"].shape == (3, 32, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No images"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="No such folder"):
        list_images(tmp_path / "missing")


def test_single_colour_images_are_left_out_of_unpaired_training(dataroot, tmp_path, capsys):
    Image.new("RGB", (40, 40), "white").save(dataroot / "trainA" / "!blank.png")  # sorted first: indices shift
    Image.new("RGB", (40, 40), (250, 250, 249)).save(dataroot / "trainA" / "003-almost-blank.png")  # within 2 levels
    dataset = UnpairedDataset(dataroot / "trainA", dataroot / "trainB", 32)
    assert sorted(dataset.a.blank) == ["!blank.png", "003-almost-blank.png"] and len(dataset.a) == 6
    assert not dataset.b.blank
    assert all(not dataset.a.files[i].stem.endswith("blank") for i in range(len(dataset.a)))
    assert all(torch.equal(dataset.a[i], dataset.a.decode(i)) for i in range(6))  # the cache lines up with the files
    train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(tmp_path / "run"), "--steps", "1", *TINY])
    assert f"left out 2 single-colour image(s) of {dataroot / 'trainA'}" in capsys.readouterr().out
    for path in (dataroot / "trainB").iterdir():
        Image.new("RGB", (40, 40), "white").save(path)
    with pytest.raises(FileNotFoundError, match="single colour"):
        UnpairedDataset(dataroot / "trainA", dataroot / "trainB", 32)


def test_no_training_view_is_flat(tmp_path):
    """A big flat square: about one random crop in ten falls inside it; the loader shows the whole image then."""
    from training.data.folders import FLAT_STD, train_augmentation
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        image = Image.new("RGB", (64, 64), "white")
        image.paste((200, 30, 30), (2, 2, 62, 62))
        image.save(tmp_path / side / "square.png")
    dataset = UnpairedDataset(tmp_path / "a", tmp_path / "b", 64)
    torch.manual_seed(0)
    flatness = lambda x: float(x.flatten(1).std(1).max())  # noqa: E731
    crops = [flatness(train_augmentation(64)(dataset.a[0])) for _ in range(300)]
    assert sum(c < FLAT_STD for c in crops) > 5  # the plain augmentation does make flat views
    views = [dataset[0] for _ in range(300)]
    assert min(flatness(v[side]) for v in views for side in ("a", "b")) >= FLAT_STD


def test_an_update_with_non_finite_gradients_is_skipped_and_counted(dataroot, tmp_path):
    from types import SimpleNamespace

    from training.common import Run
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    run = SimpleNamespace(accelerator=SimpleNamespace(scaler=None), skipped_updates=0)
    weight.grad = torch.tensor([1.0, float("inf"), 0.0])
    assert not Run.finite_step(run, optimizer) and run.skipped_updates == 1
    assert torch.equal(weight.detach(), torch.ones(3)) and weight.grad is None and not optimizer.state
    weight.grad = torch.tensor([1.0, 1.0, 0.0])
    assert Run.finite_step(run, optimizer) and run.skipped_updates == 1
    assert weight[0] < 1 and torch.isfinite(weight).all()


def test_a_diverged_run_stops_with_a_message(dataroot, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="training diverged: the weights are no longer finite at step"):
        train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(out), "--steps", "20", *TINY, "--lr", "1e30"])
    assert not (out / "export").exists()


def test_emoji_keys_and_split_are_deterministic():
    assert emoji.normalise_key("1F600") == "1f600"
    assert emoji.normalise_key("2764-FE0F-200D-1F525") == "2764-200d-1f525"
    assert emoji.base_key("1f44b-1f3fb") == "1f44b"
    assert emoji.is_flag("1f1eb-1f1f7") and not emoji.is_flag("1f600")
    assert emoji.split_of("1f44b-1f3fd") == emoji.split_of("1f44b")  # skin tones follow their base
    splits = [emoji.split_of(f"{cp:x}") for cp in range(0x1F600, 0x1F650)]
    assert 0 < splits.count("test") < len(splits) // 3


def test_iconify_reader_resolves_aliases(tmp_path):
    icons = {"prefix": "t", "width": 128, "height": 128,
             "icons": {"face": {"body": '<circle cx="64" cy="64" r="50" fill="#fc0"/>'}},
             "aliases": {"face-flipped": {"parent": "face", "hFlip": True}}}
    chars = {"1f600": "face", "1f601-fe0f": "face-flipped"}
    tarball = tmp_path / "icons.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, payload in (("package/icons.json", icons), ("package/chars.json", chars)):
            data = json.dumps(payload).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    svgs = emoji.read_iconify(tarball)
    assert set(svgs) == {"1f600", "1f601"} and "scale(-1 1)" in svgs["1f601"]
    emoji.render((svgs["1f600"], tmp_path / "face.png", 32))
    image = Image.open(tmp_path / "face.png")
    assert image.mode == "RGB" and image.size == (32, 32) and image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((16, 16))[2] < 50  # the yellow disc


def test_an_icon_on_a_wide_canvas_renders_square_and_centred(tmp_path):
    """Twemoji's watermelon is 36 x 25: emoji-v1 rendered it 64 x 45, and stacking a split failed on it."""
    wide = emoji.square_svg('<rect x="0" y="0" width="36" height="25" fill="#f00"/>', 0, 0, 36, 25)
    emoji.render((wide, tmp_path / "wide.png", 36))
    image = Image.open(tmp_path / "wide.png")
    assert image.size == (36, 36)
    column = [image.getpixel((18, y)) for y in range(36)]
    red = [y for y, (r, g, b) in enumerate(column) if r > 200 and g < 50]
    assert red[0] in (5, 6) and red[-1] in (29, 30)  # 25 rows of red, centred: 5.5 rows of white each side
    assert column[0] == column[-1] == (255, 255, 255)


def test_validation_hold_out_snapshots_and_step_selection(dataroot, tmp_path):
    from safetensors.torch import load_file

    from training import select_step
    out = tmp_path / "run"
    model = train_cyclegan.main(["--dataroot", str(dataroot), "--out", str(out), *TINY, "--steps", "3",
                                 "--val-fraction", "0.5", "--snapshot-every", "1"])
    held = json.loads((out / "validation.json").read_text())
    assert held["a"] and held["a"] == held["b"]  # name-paired files are held out from both folders together
    assert 0 < len(held["a"]) < 6
    used = UnpairedDataset(dataroot / "trainA", dataroot / "trainB", 32,
                           keep=lambda name: not is_held_out(name, 0.5)).a.files
    assert not {p.stem for p in used} & set(held["a"]) and len(used) + len(held["a"]) == 6
    snapshots = sorted((out / "snapshots").glob("*.safetensors"))
    assert [p.name for p in snapshots] == [f"step-{i:07d}.safetensors" for i in (1, 2, 3)]
    last, exported = load_file(snapshots[-1]), load_file(out / "export" / "model.safetensors")
    assert last.keys() == exported.keys() == model.state_dict().keys()
    assert all(torch.equal(last[k], exported[k]) for k in last)  # the last snapshot is what was exported

    folder = select_step.main(["--run", str(out)])
    selection = json.loads((out / "selection.json").read_text())
    info = json.loads((folder / "training.json").read_text())
    step = info["selected"]["step"]
    assert sorted(map(int, selection["steps"])) == [1, 2, 3] and selection["chosen_step"] == step
    scores = {int(s): v["directions"] for s, v in selection["steps"].items()}
    protocol = select_step.protocol_of(translator.load(str(folder)))
    assert max(scores, key=lambda s: (*protocol.rank(scores[s]), s)) == step
    chosen = load_file(out / "snapshots" / f"step-{step:07d}.safetensors")
    assert all(torch.equal(chosen[k], v) for k, v in load_file(folder / "model.safetensors").items())
    assert translator.load(str(folder)).translate(dataroot / "testA" / "000.png").size
    assert f"Step chosen: {step} of 3" in (folder / "README.md").read_text()


def test_step_selection_counts_the_bars():
    from training.evaluate import TranslationProtocol

    bars_met, rank_key = TranslationProtocol().bars, TranslationProtocol().rank

    def direction(l1, ssim, share):
        return {"model": {"l1": l1, "ssim": ssim, "target_share": share},
                "identity": {"l1": 0.17, "ssim": 0.35, "target_share": 0.0}}
    all_met = {"a2b": direction(0.16, 0.36, 0.81), "b2a": direction(0.16, 0.36, 0.85)}
    no_judged_a2b = {"a2b": direction(0.16, 0.36, 0.79), "b2a": direction(0.16, 0.36, 0.95)}
    worse_ssim = {"a2b": direction(0.16, 0.34, 0.90), "b2a": direction(0.18, 0.36, 0.90)}
    assert [bars_met(d) for d in (all_met, no_judged_a2b, worse_ssim)] == [6, 5, 4]
    assert rank_key(all_met) > rank_key(no_judged_a2b) > rank_key(worse_ssim)
    # equal bars: the weaker direction's judged share decides, not the average
    assert rank_key({"a2b": direction(0.16, 0.36, 0.70), "b2a": direction(0.16, 0.36, 0.99)}) < \
        rank_key({"a2b": direction(0.16, 0.36, 0.75), "b2a": direction(0.16, 0.36, 0.85)})
    # without a judge: fewer bars, then lower L1
    plain = {"a2b": {"model": {"l1": 0.1, "ssim": 0.4, "target_share": None}, "identity": {"l1": 0.17, "ssim": 0.35}}}
    assert bars_met(plain) == 2


def test_step_selection_explains_what_is_missing(tmp_path):
    from training import select_step
    with pytest.raises(SystemExit, match="snapshot-every"):
        select_step.main(["--run", str(tmp_path)])  # a run trained without snapshots
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "step-0000001.safetensors").write_bytes(b"")
    with pytest.raises(SystemExit, match="not finished"):
        select_step.main(["--run", str(tmp_path)])
    from training.evaluate import TranslationProtocol
    t = translator.load(str(export(tiny_cyclegan(), tmp_path / "tiny")))
    with pytest.raises(SystemExit, match="--val-fraction"):
        TranslationProtocol().validation_sets(t, tmp_path)
    (tmp_path / "validation.json").write_text(json.dumps({"a": ["x"], "b": ["y"], "train_a": "", "train_b": ""}))
    with pytest.raises(SystemExit, match="name-paired"):
        TranslationProtocol().validation_sets(t, tmp_path)


def test_recipes_reproduce_the_shipped_models_settings():
    """The recipe files hold what the shipped models were trained with: every loss setting and network size
    recorded in their training.json / config.json comes back from `--recipe` alone."""
    from training import pix2pix as train_pix2pix

    for name, trainer in (("cyclegan-noto2twemoji", train_cyclegan), ("pix2pix-sketch2emoji", train_pix2pix)):
        args = trainer.parse_args(["--recipe", str(ROOT / f"training/recipes/{name}.toml"), "--out", "x"])
        info = json.loads((ROOT / f"assets/models/{name}/training.json").read_text())
        config = json.loads((ROOT / f"assets/models/{name}/config.json").read_text())
        for key, value in info["losses"].items():
            if key in vars(args):
                assert getattr(args, key) == value, (name, key)
        for key in ("image_size", "ngf", "n_blocks", "num_downs", "norm", "inner_norm", "region_colours",
                    "palette_size", "palette_temperature", "palette_strokes", "palette_stroke_width", "palette_global",
                    "palette_readings"):
            if key in config:
                assert getattr(args, key) == config[key], (name, key)
        for key in ("simple_drawings", "zoom_out"):  # drawing augmentations, in the card's training.json
            assert getattr(args, key, 0.0) == info.get(key, 0.0), (name, key)
        if name == "pix2pix-sketch2emoji":  # other vendors' drawings, and how many
            assert [str(f) for f in args.outlines_from] == info.get("outlines_from", []), name
            if args.outlines_from:
                assert args.outline_share == info["outline_share"], name
        if "layer_norm_scale" in info:  # an init, so in the card's training.json, not in config.json
            assert args.layer_norm_scale == info["layer_norm_scale"], name
        assert args.steps == info["steps"] and args.ema == info.get("ema", 0.0) and args.seed == info["seed"]
        assert args.name == name


def test_recipe_settings_are_checked(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[losses]\nlambda_cycle_a = 2\n[departures]\ncycle_noise = 0.2\n')
    args = train_cyclegan.parse_args(["--dataroot", "d", "--out", "x", "--recipe", str(recipe), "--lambda-cycle-b", "3"])
    assert (args.lambda_cycle_a, args.lambda_cycle_b, args.cycle_noise) == (2.0, 3.0, 0.2)  # the command line wins
    assert train_cyclegan.parse_args(["--dataroot", "d", "--out", "x", "--recipe", str(recipe),
                                      "--set", "cycle_noise=0.05"]).cycle_noise == 0.05
    with pytest.raises(SystemExit):
        train_cyclegan.parse_args(["--dataroot", "d", "--out", "x", "--set", "cycle_nosie=0.1"])  # a typo
    with pytest.raises(SystemExit):
        train_cyclegan.parse_args(["--dataroot", "d", "--out", "x", "--set", "cycle_noise=loud"])  # not a number
    recipe.write_text("[a]\nngf = 8\n[b]\nngf = 16\n")
    with pytest.raises(SystemExit, match="set twice"):
        train_cyclegan.parse_args(["--dataroot", "d", "--out", "x", "--recipe", str(recipe)])


def test_help_shows_the_papers_method_and_lists_the_departures():
    done = subprocess.run([sys.executable, "-m", "training.cyclegan", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    flags = [line for line in done.stdout.splitlines() if line.lstrip().startswith("--")]
    assert len(flags) <= 40
    assert "--cycle-noise" not in done.stdout and "cycle_noise = 0.0" in done.stdout


def test_paired_pix2pix_holds_out_the_same_names_as_cyclegan(dataroot, tmp_path):
    """The paired oracle trains on exactly the code points the CycleGAN trains on."""
    from training import pix2pix as train_pix2pix

    out = tmp_path / "p2p"
    train_pix2pix.main(["--train-a", str(dataroot / "trainA"), "--train-b", str(dataroot / "trainB"), "--out", str(out),
                        "--image-size", "32", "--ngf", "4", "--num-downs", "5", "--ndf", "4", "--n-layers-d", "2",
                        "--steps", "2", "--val-fraction", "0.5", "--snapshot-every", "1", "--threads", "1"])
    held = json.loads((out / "validation.json").read_text())
    assert held["a"] == held["b"] == [f"{i:03d}" for i in range(6) if is_held_out(f"{i:03d}", 0.5)]
    from training import select_step
    folder = select_step.main(["--run", str(out)])
    assert json.loads((folder / "training.json").read_text())["selected"]["step"] in (1, 2)


def test_data_pack_gives_every_file_back_exactly(tmp_path, monkeypatch):
    from training.data import pack
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data" / "set"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "same-pixels.png")
    (folder / "copy.png").write_bytes((folder / "rgb.png").read_bytes())  # stored once
    Image.fromarray(rng.integers(0, 256, (8, 9), dtype=np.uint8)).save(folder / "grey.png")
    Image.new("P", (4, 4), 3).save(folder / "palette.png")  # not pixels alone: travels as bytes
    Image.new("RGB", (4, 4)).save(folder / "photo.JPG")
    (folder / "manifest.json").write_text('{"a": 1}')
    before = {p.relative_to(tmp_path): p.read_bytes() for p in folder.rglob("*")}
    pixels = {p: np.asarray(Image.open(tmp_path / p)).copy() for p in before if p.suffix == ".png"}
    pack.pack(str(tmp_path / "set.xz"), ["data/set"])
    import shutil
    shutil.rmtree(tmp_path / "data")
    pack.unpack(str(tmp_path / "set.xz"))
    assert {p.relative_to(tmp_path) for p in folder.rglob("*")} == set(before)
    for p, array in pixels.items():
        image = Image.open(tmp_path / p)
        assert image.mode == ("P" if p.name == "palette.png" else "L" if p.name == "grey.png" else "RGB")
        assert np.array_equal(np.asarray(image), array)
    for p in (Path("data/set/photo.JPG"), Path("data/set/manifest.json"), Path("data/set/palette.png")):
        assert (tmp_path / p).read_bytes() == before[p]
    with pytest.raises(SystemExit, match="no such file"):
        pack.pack(str(tmp_path / "x.xz"), ["data/missing"])


def test_every_shipped_cards_training_command_is_accepted_by_todays_trainer():
    """A card's command may carry flags that have since become recipe settings; then its "reproduce" command
    (rendered in the card) must be one today's trainer accepts."""
    import importlib
    import shlex

    for info_path in sorted((ROOT / "assets/models").glob("*/training.json")):
        info = json.loads(info_path.read_text())
        words = shlex.split(info.get("reproduce", info["command"]).split(" && ")[0])
        assert words[:2] == ["python", "-m"], info_path
        importlib.import_module(words[2]).parse_args(words[3:])  # SystemExit (a failed test) on an unknown flag
        if "reproduce" in info:  # and the card shows it beside the command of that day
            assert f"with today's trainer: `{info['reproduce']}`" in (info_path.parent / "README.md").read_text()
