"""Loaders for a user's own data, in the three layouts people have:

- two folders of unpaired images (the CycleGAN layout `ROOT/trainA`, `ROOT/trainB`, `testA`, `testB`);
- aligned pairs: two folders with the same file names, or single images holding A|B side by side
  (the pix2pix layout);
- one folder per class (`ROOT/<class>/*.png`).

Images are decoded once and kept in memory as uint8 when the set is small (the emoji sets are a few MB),
so the CPU spends its time on the networks, not on PNG decoding.
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from translator.images import load_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No such folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    return files


def file_name(path: Path, root: str | Path) -> str:
    """A file's name as hold-outs and name pairings read it: its path under `root`, without the suffix."""
    return path.relative_to(root).with_suffix("").as_posix()


def is_held_out(name: str, fraction: float) -> bool:
    """Whether the file called `name` (stem, relative to its folder) belongs to a validation hold-out of
    about `fraction` of the files. Decided by a hash of the name alone, so it is the same on every run and
    machine, and an image paired by name across two folders (the same emoji code point in two vendor
    styles) is held out from both together."""
    digest = hashlib.sha1(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2 ** 32 < fraction


def cyclegan_folders(root: str | Path, split: str = "train") -> tuple[Path, Path]:
    """ROOT/trainA + ROOT/trainB (or testA/testB)."""
    root = Path(root)
    return root / f"{split}A", root / f"{split}B"


class ImageFiles:
    """Decoded images of one folder, as uint8 CxHxW tensors at a fixed square size (cached)."""

    def __init__(self, folder: str | Path, size: int, cache: bool = True, keep: Callable[[str], bool] | None = None,
                 drop_blank: bool = False):
        """keep: a test on each file's name (stem, relative to `folder`); files it rejects are left out.
        drop_blank: leave out single-colour images (listed in `self.blank`). They teach a translator nothing,
        and under instance norm they are harmful: every norm of a constant map multiplies the gradient by
        1/sqrt(eps) (316 at eps 1e-5), so a deep encoder's gradient overflows to inf -- MUNIT's training
        turned to NaN at step 171 on 5 blank drawings among 8,870. Costs one decode of every file up front."""
        folder = Path(folder)
        self.files = [p for p in list_images(folder) if keep is None or keep(file_name(p, folder))]
        if not self.files:
            raise FileNotFoundError(f"No images left under {folder} after the hold-out")
        self.size, self.cache = size, cache
        self._decoded: dict[int, torch.Tensor] = {}
        self.blank: list[str] = []
        if drop_blank:
            self._drop_blank(folder)

    def _drop_blank(self, folder: Path) -> None:
        kept, decoded = [], {}
        for i, path in enumerate(self.files):
            tensor = self.decode(i)
            if is_blank(tensor):
                self.blank.append(path.relative_to(folder).as_posix())
                continue
            if self.cache:
                decoded[len(kept)] = tensor
            kept.append(path)
        if not kept:
            raise FileNotFoundError(f"Every image under {folder} is a single colour: nothing to learn from")
        self.files, self._decoded = kept, decoded

    def keep_only(self, indices: list[int]) -> None:
        """Keep the files at `indices` (in that order), with what was already decoded of them."""
        self._decoded = {new: self._decoded[old] for new, old in enumerate(indices) if old in self._decoded}
        self.files = [self.files[i] for i in indices]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        if i not in self._decoded:
            tensor = self.decode(i)
            if not self.cache:
                return tensor
            self._decoded[i] = tensor
        return self._decoded[i]

    def decode(self, i: int) -> torch.Tensor:
        """uint8 3xSxS (S = size; the file's own size if size is 0)."""
        image = load_image(self.files[i])
        if self.size and image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), resample=3)  # bicubic, as the reference loaders
        return v2.functional.pil_to_tensor(image)


def is_blank(image: torch.Tensor, tolerance: int = 2) -> bool:
    """Whether a uint8 image is one flat colour (every channel within `tolerance` levels of its own value)."""
    flat = image.flatten(1).int()
    return bool(((flat.amax(1) - flat.amin(1)) <= tolerance).all())


def random_geometry(size: int, jitter: float = 1.125, flip: bool = True) -> v2.Compose:
    """The papers' resize-then-random-crop (286 -> 256 is x1.117) and horizontal flip, on uint8 tensors."""
    steps = [v2.Resize(round(size * jitter), antialias=True), v2.RandomCrop(size)] if jitter > 1 else []
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


def train_augmentation(size: int, jitter: float = 1.125, flip: bool = True) -> v2.Compose:
    """random_geometry, then scaled to [-1, 1]."""
    return v2.Compose([random_geometry(size, jitter, flip), eval_transform()])


def eval_transform() -> v2.Compose:
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Lambda(to_signed)])


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], for any number of channels (a pair is 6)."""
    return x * 2 - 1


FLAT_STD = 4 / 255  # in [-1, 1] units: a view this flat normalises to noise (see UnpairedDataset)


class UnpairedDataset(Dataset):
    """An A image in order and an independently drawn B image (the CycleGAN `unaligned` mode).

    A random crop can fall entirely inside a flat region (a big coloured square emoji): instance norm then
    divides by sqrt(eps), the gradient overflows, and MUNIT's training turned to NaN at step 1,050 on such a
    crop. A view flatter than FLAT_STD is replaced by the whole image, resized without the crop (flipped as
    drawn); wholly flat images are left out at load (ImageFiles(drop_blank=True))."""

    def __init__(self, folder_a, folder_b, size: int, augment: bool = True, cache: bool = True,
                 keep: Callable[[str], bool] | None = None, paired: bool = False,
                 style_group: Callable[[str], str | None] | None = None, references: bool = False):
        """paired: where B has a file of the same name as A's (the multimodal builder's outline and its colour
        emoji), that file is the B image, under the same crop and flip, and `has_pair` is True; elsewhere B
        is drawn at random as usual. B's images are then A's partners: where every B image has its A, B's
        discriminator sees what it saw unpaired; a B image without an A is not drawn.
        style_group (with paired): a file name -> its style's name (e.g. the vendor of `noto-1f600`), or None;
        each sample then also has `b_style`, another B image of the B image's style (a different file, its
        own crop), and `has_style` where there is one.
        references (with style_group): each sample also has `ref`, a B image drawn at random whatever A is
        (its own crop), `ref_group` its style's index in `group_names` and `b_group` the B image's (-1: a
        name that says no style), for a loss that asks a translation in a reference's style to look like
        that style's real images."""
        self.a = ImageFiles(folder_a, size, cache, keep, drop_blank=True)
        self.b = ImageFiles(folder_b, size, cache, keep, drop_blank=True)
        self.augment = augment
        self.transform = train_augmentation(size) if augment else eval_transform()
        self.whole = train_augmentation(size, jitter=1.0) if augment else eval_transform()
        self.partner: dict[int, int] = {}
        if paired:
            by_name = {file_name(p, folder_b): j for j, p in enumerate(self.b.files)}
            self.partner = {i: by_name[file_name(p, folder_a)] for i, p in enumerate(self.a.files)
                            if file_name(p, folder_a) in by_name}
        self.same_style: dict[int, list[int]] = {}  # B index -> the other B images of its style
        groups: dict[str, list[int]] = {}
        if style_group is not None:
            for j, p in enumerate(self.b.files):
                group = style_group(file_name(p, folder_b))
                if group is not None:
                    groups.setdefault(group, []).append(j)
        if paired:
            self.same_style = {j: [k for k in members if k != j] for members in groups.values() for j in members
                               if len(members) > 1}
        self.references = references and bool(groups)
        self.group_names = sorted(groups)
        self.group_of = [-1] * len(self.b)  # B index -> its style's index in group_names
        for index, name in enumerate(self.group_names):
            for j in groups[name]:
                self.group_of[j] = index

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def view(self, image: torch.Tensor) -> torch.Tensor:
        out = self.transform(image)  # 3 channels, or 6 for a pair: whole if either image's view is flat
        if self.augment and float(out.flatten(1).std(1).view(-1, 3).amax(1).min()) < FLAT_STD:
            out = self.whole(image)
        return out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i %= len(self.a)
        j = self.partner.get(i)
        if j is None:
            j = random.randrange(len(self.b))
            b = self.view(self.b[j])
            sample = {"a": self.view(self.a[i]), "b": b, "has_pair": False,
                      **({"b_style": b, "has_style": False} if self.same_style else {})}
        else:
            both = self.view(torch.cat([self.a[i], self.b[j]]))  # one crop and flip for the pair
            sample = {"a": both[:3], "b": both[3:], "has_pair": True}
            if self.same_style:
                others = self.same_style.get(j)
                sample["b_style"] = self.view(self.b[random.choice(others)]) if others else sample["b"]
                sample["has_style"] = bool(others)
        if self.references:
            k = random.randrange(len(self.b))
            sample.update(b_group=self.group_of[j], ref=self.view(self.b[k]), ref_group=self.group_of[k])
        return sample


class PairedDataset(Dataset):
    """Aligned pairs: the same file names in two folders, or side-by-side A|B images in one folder
    (`folder_b=None`). The same random crop and flip are applied to both halves."""

    def __init__(self, folder_a, folder_b=None, size: int = 256, augment: bool = True,
                 keep: Callable[[str], bool] | None = None):
        """keep: a test on each file's name (stem, relative to its folder); pairs it rejects are left out."""
        kept = lambda p, root: keep is None or keep(file_name(p, root))  # noqa: E731
        if folder_b is None:
            self.pairs = [(p, None) for p in list_images(folder_a) if kept(p, folder_a)]
        else:
            by_name = {file_name(p, folder_b): p for p in list_images(folder_b)}
            self.pairs = [(p, by_name[file_name(p, folder_a)]) for p in list_images(folder_a)
                          if file_name(p, folder_a) in by_name and kept(p, folder_a)]
        if not self.pairs:
            raise FileNotFoundError(f"No pairs in {folder_a}" + (f" and {folder_b} (same file names)" if folder_b else ""))
        self.size = size
        self.transform = train_augmentation(size) if augment else eval_transform()
        self._decoded: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, i: int) -> torch.Tensor:
        """Both halves at the model size, stacked as 6 channels (cached)."""
        if i not in self._decoded:
            path_a, path_b = self.pairs[i]
            if path_b is None:
                image = load_image(path_a)
                w, h = image.size
                halves = [image.crop((0, 0, w // 2, h)), image.crop((w // 2, 0, w, h))]
            else:
                halves = [load_image(path_a), load_image(path_b)]
            self._decoded[i] = torch.cat([v2.functional.pil_to_tensor(x.resize((self.size, self.size), resample=3))
                                          for x in halves])
        return self._decoded[i]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        both = self.transform(self._load(i))  # one crop/flip for the pair
        return {"a": both[:3], "b": both[3:]}


class ClassFolders(Dataset):
    """ROOT/<class>/*: images with integer labels; `classes` keeps the folder names."""

    def __init__(self, root, size: int, augment: bool = False, cache: bool = True, classes: list[str] | None = None,
                 subfolder: str = "", transform=None):
        root = Path(root)
        self.classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
        self.sets = [ImageFiles(root / c / subfolder, size, cache) for c in self.classes]
        self.index = [(c, i) for c, s in enumerate(self.sets) for i in range(len(s))]
        self.transform = transform or (train_augmentation(size) if augment else eval_transform())

    @classmethod
    def from_styles(cls, root, styles: list[str], split: str, size: int, augment: bool = False,
                    transform=None) -> "ClassFolders":
        """The emoji builder's layout, ROOT/<style>/<split>/*.png, one class per style."""
        return cls(root, size, augment, classes=styles, subfolder=split, transform=transform)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        c, j = self.index[i]
        return self.transform(self.sets[c][j]), c
