"""The evaluation's judge: a small CNN that tells emoji vendors apart, trained on real renders only.

    python -m training.classifier --data data/emoji-64 --out data/vendor-classifier

It answers "does this output look like the target vendor?" (the share of outputs it assigns to the
target vendor) and gives the features KID is computed on. Its own accuracy on the held-out code points is
saved with it and reported beside every number it produces: a judge you cannot check is no judge.
It sees 64x64 images; larger inputs are downscaled first, so models of any size are judged alike.

Its recipe and limits, measured (data/vendor-classifier/metrics.json; one run each, seed 0, 30 epochs):
- crop + flip only, no label smoothing: 91.0% over the six styles, real Noto recognised 72.5% (mostly
  taken for Fluent flat, whose flat art resembles Noto's drawings); judging at 128 px or training on
  random crops did no better (90.0%, 78.5%);
- + blur / down-up resampling half of the time + label smoothing 0.1 (the default): 92.3%, Noto 81.9%;
- the same at width 48 (2x the compute): 92.5%, Noto 80.8%, so width 32 stays.
Evaluation therefore also reports the two-domain decision (target vs source vendor), which it gets
right 94-99% of the time on real renders, and always prints the judge's recall on the real target vendor.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torchvision.transforms import v2
from tqdm import tqdm

from training.data.folders import ClassFolders, eval_transform, random_geometry
from translator.layers import ConvNormAct

VENDORS = ["noto", "twemoji", "fluent-flat", "fluent-hc", "openmoji", "openmoji-black"]
INPUT_SIZE = 64


class VendorClassifier(nn.Module, PyTorchModelHubMixin):
    def __init__(self, classes: list[str] = VENDORS, width: int = 32):
        super().__init__()
        self.classes = list(classes)
        # a stride-2 stem: full-resolution convs would triple the cost for little accuracy
        layers, channels = [ConvNormAct(3, width, 3, stride=2, padding=1, norm="batch")], width
        for w in [width, width * 2, width * 4, width * 8]:  # 32 -> 16 -> 8 -> 4 -> 2
            layers += [ConvNormAct(channels, w, 3, padding=1, norm="batch"),
                       ConvNormAct(w, w, 3, padding=1, norm="batch"), nn.MaxPool2d(2)]
            channels = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, len(self.classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Nx3xHxW in [-1, 1] -> N x 256 pooled features (what KID compares)."""
        if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@torch.no_grad()
def accuracy(model: VendorClassifier, dataset: ClassFolders) -> tuple[float, dict[str, float]]:
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=256)
    correct = torch.zeros(len(model.classes))
    total = torch.zeros(len(model.classes))
    for x, y in loader:
        hit = (model(x).argmax(1) == y).float()
        correct.index_add_(0, y, hit)
        total.index_add_(0, y, torch.ones_like(hit))
    return (correct.sum() / total.sum()).item(), {c: (correct[i] / total[i]).item() for i, c in enumerate(model.classes)}


def judge_augmentation(size: int = INPUT_SIZE) -> v2.Compose:
    """The papers' crop-and-flip, plus softening: translated images are blurrier than crisp SVG renders, and
    crispness is not a vendor's style, so the judge must not learn to read it as one."""
    soften = v2.RandomChoice([
        v2.GaussianBlur(3, sigma=(0.3, 1.0)),
        v2.Compose([v2.Resize(size // 2, antialias=True), v2.Resize(size, antialias=True)]),  # down-up resample
    ])
    return v2.Compose([random_geometry(size), v2.RandomApply([soften], p=0.5), eval_transform()])


def train(data: Path, out: Path, epochs: int = 30, seed: int = 0, threads: int | None = None, width: int = 32,
          label_smoothing: float = 0.1) -> dict:
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train_set = ClassFolders.from_styles(data, VENDORS, "train", INPUT_SIZE, transform=judge_augmentation())
    test_set = ClassFolders.from_styles(data, VENDORS, "test", INPUT_SIZE, augment=False)
    model = VendorClassifier(VENDORS, width)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(train_set, batch_size=min(64, len(train_set)), shuffle=True, drop_last=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * len(loader))
    start = time.time()
    for epoch in range(epochs):
        model.train()
        hits = seen = 0
        bar = tqdm(loader, desc=f"classifier epoch {epoch + 1}/{epochs}", leave=False)
        for x, y in bar:
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            hits, seen = hits + (logits.argmax(1) == y).sum().item(), seen + len(y)
        print(f"epoch {epoch + 1}: train accuracy {hits / seen:.3f} (augmented)", flush=True)
    test_accuracy, per_class = accuracy(model, test_set)
    report = {"test_accuracy": test_accuracy, "per_class": per_class, "train_accuracy_last_epoch": hits / seen, "train_images": len(train_set),
              "test_images": len(test_set), "epochs": epochs, "width": width,
              "label_smoothing": label_smoothing, "augmentation": "crop, flip, blur or down-up resample (p 0.5)",
              "seconds": round(time.time() - start),
              "data": str(data)}
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    return report


def load(folder: Path) -> tuple[VendorClassifier, dict]:
    model = VendorClassifier.from_pretrained(folder, strict=True).eval()
    return model, json.loads((folder / "metrics.json").read_text())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/emoji-64"))
    parser.add_argument("--out", type=Path, default=Path("data/vendor-classifier"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    report = train(args.data, args.out, args.epochs, threads=args.threads, width=args.width,
                   label_smoothing=args.label_smoothing)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
