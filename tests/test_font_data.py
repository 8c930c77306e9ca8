"""The font glyph builder (training/data/fonts.py), on the DejaVu and Liberation fonts installed under
/usr/share/fonts: no download. A few doctored copies check every filter: a byte-identical file, a copy with
extra bytes at the end (renders identically: a near duplicate), a face whose letters are drawn from its
symbol block (a dingbat font), one whose digits are unmapped, and one whose lower case draws capitals."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data import fonts

SYSTEM_FONTS = Path("/usr/share/fonts/truetype")
DEJAVU = SYSTEM_FONTS / "dejavu" / "DejaVuSans.ttf"
LIBERATION = SYSTEM_FONTS / "liberation" / "LiberationSans-Regular.ttf"
SERIF = SYSTEM_FONTS / "liberation" / "LiberationSerif-Regular.ttf"
SIZE = 32

pytestmark = pytest.mark.skipif(not (DEJAVU.exists() and LIBERATION.exists() and SERIF.exists()),
                                reason="needs the DejaVu and Liberation fonts under /usr/share/fonts")


def _copy(source: Path, target: Path, tail: bytes = b"") -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes() + tail)  # bytes after the last table are ignored by FreeType


def _doctored(ch: str, face: fonts.Face) -> str:
    folder = face.path.parent.name
    if folder == "dingbat":  # every character drawn as a different symbol of DejaVu's U+2600 block
        return chr(0x2600 + fonts.CHARS.index(ch))
    if folder == "nodigits" and ch.isdigit():
        return fonts.NOTDEF_PROBE
    if folder == "allcaps" and ch.islower():
        return ch.upper()
    return ch


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("fonts")
    extra = root / "extra"
    _copy(DEJAVU, extra / "copy" / DEJAVU.name)                        # identical file
    _copy(LIBERATION, extra / "near" / LIBERATION.name, b"\0" * 64)     # same glyphs, other bytes
    _copy(DEJAVU, extra / "dingbat" / "Dingbats.ttf", b"\1" * 64)
    _copy(SERIF, extra / "nodigits" / "NoDigits.ttf", b"\2" * 64)
    _copy(SERIF, extra / "allcaps" / "AllCaps.ttf", b"\3" * 64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fonts, "glyph_text", _doctored)
        patch.setattr(fonts, "UNSEEN_PERMILLE", 600)  # 'liberation' (585) unseen, 'dejavu' (648) train
        out = root / "out"
        argv = ["--from-dir", str(SYSTEM_FONTS), "--from-dir", str(extra), "--out", str(out),
                "--size", str(SIZE), "--workers", "1"]
        fonts.main(argv)
        first = json.loads((out / "manifest.json").read_text())
        (out / "train" / "stale-font").mkdir()  # left over from an earlier build: must go
        fonts.main(argv)
    return out, first, json.loads((out / "manifest.json").read_text())


def _dropped(manifest: dict) -> dict[str, dict]:
    return {d["id"]: d for d in manifest["dropped"]}


def test_layout_and_manifest(built):
    out, _, manifest = built
    assert manifest["size"] == SIZE and manifest["characters"] == fonts.CHARS
    names = {f"{ord(c):04X}.png" for c in fonts.CHARS}
    assert "0041.png" in names and "007A.png" in names and "0030.png" in names
    listed = {(f["split"], f["id"]) for f in manifest["fonts"]}
    on_disk = {(split, d.name) for split in fonts.SPLITS for d in (out / split).iterdir()}
    assert listed == on_disk and len(listed) >= 30
    for split, font_id in listed:
        assert {p.name for p in (out / split / font_id).iterdir()} == names
    font = manifest["fonts"][0]
    assert {"id", "family", "style", "group", "split", "package", "file", "face_index"} <= set(font)
    assert manifest["content_sha256"] and manifest["data_version"] == fonts.DATA_VERSION
    assert sum(manifest["counts"][s] for s in fonts.SPLITS) == len(manifest["fonts"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {f["id"] for f in manifest["fonts"]}
    assert set(metrics[font["id"]]["glyphs"]) == {n[:4] for n in names}


def test_glyphs_are_dark_on_white_centred_unclipped_and_keep_the_font_scale(built):
    out, _, _ = built
    margin = round(SIZE * fonts.MARGIN_FRACTION)
    ids, arrays = fonts.load_split(out, "train")
    assert arrays.shape == (len(ids), 62, SIZE, SIZE) and arrays.dtype == np.uint8
    largest = []
    for glyphs in arrays:
        assert (glyphs[:, 0, :] == 255).all() and (glyphs[:, -1, :] == 255).all()  # nothing touches the edge
        assert (glyphs[:, :, 0] == 255).all() and (glyphs[:, :, -1] == 255).all()
        extents = []
        for g in glyphs:
            assert g.min() < 80 and g.mean() > 150  # dark ink, mostly white paper
            ys, xs = np.nonzero(g < 250)
            assert abs((xs.min() + xs.max() + 1) / 2 - SIZE / 2) <= 1.0  # ink box centred
            assert abs((ys.min() + ys.max() + 1) / 2 - SIZE / 2) <= 1.0
            extents.append(max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
        largest.append(max(extents))
        x_height = np.ptp(np.nonzero(glyphs[fonts.CHARS.index("x")] < 128)[0])
        cap_height = np.ptp(np.nonzero(glyphs[fonts.CHARS.index("X")] < 128)[0])
        assert x_height < 0.85 * cap_height  # one scale per font: lower case stays smaller than capitals
    # the largest glyph of each font fills the square inside the margin
    assert all(SIZE - 2 * margin - 1 <= e <= SIZE - 2 * margin + 1 for e in largest)


def test_filters_drop_what_they_should_and_say_why(built):
    _, _, manifest = built
    dropped = _dropped(manifest)
    kept = {f["id"] for f in manifest["fonts"]}
    # the byte-identical copy: the first in (package, path) order stays, the other is named as its twin
    assert "local-copy__DejaVuSans__0" in kept
    assert dropped["local-dejavu__DejaVuSans__0"]["reason"] == "identical file"
    assert "local-copy__DejaVuSans__0" in dropped["local-dejavu__DejaVuSans__0"]["detail"]
    assert dropped["local-near__LiberationSans-Regular__0"]["reason"] == "near duplicate"
    assert "local-liberation__LiberationSans-Regular__0" in kept  # the first of the pair (id order) stays
    assert dropped["local-dingbat__Dingbats__0"]["reason"] == "illegible"
    assert dropped["local-nodigits__NoDigits__0"]["reason"] == "missing"
    assert "0123456789" in dropped["local-nodigits__NoDigits__0"]["detail"]
    assert dropped["local-allcaps__AllCaps__0"]["reason"] == "all caps"
    # the real fonts are legible: none of the installed Sans/Serif/Mono text faces is called illegible
    real_illegible = [i for i, d in dropped.items() if d["reason"] == "illegible" and "dingbat" not in i]
    assert real_illegible == []
    assert {"DejaVu Sans", "Liberation Sans", "Liberation Serif", "Liberation Mono"} <= \
        {f["family"] for f in manifest["fonts"]}


def test_split_is_by_family_and_deterministic(built):
    out, first, manifest = built
    splits_of_group = {}
    for f in manifest["fonts"]:
        splits_of_group.setdefault(f["group"], set()).add(f["split"])
    assert all(len(s) == 1 for s in splits_of_group.values())  # no family on both sides
    assert {f["split"] for f in manifest["fonts"]} == {"train", "unseen"}
    assert {f["family_group"] for f in manifest["fonts"] if f["split"] == "unseen"} == {"liberation"}
    # the second build into the same folder: same fonts, same splits, same pixels, stale folder removed
    assert [(f["id"], f["split"]) for f in first["fonts"]] == [(f["id"], f["split"]) for f in manifest["fonts"]]
    assert first["content_sha256"] == manifest["content_sha256"]
    assert not (out / "train" / "stale-font").exists()


def test_family_groups_and_split_rule():
    assert fonts.family_group("DejaVu Sans") == fonts.family_group("DejaVu Sans Mono") == "dejavu"
    assert fonts.family_group("Neural Outline BRK") == fonts.family_group("Neural BRK") == "neural"
    assert fonts.family_group("Px IBM VGA8") == "px-ibm" != fonts.family_group("Px ATI 8x14")
    names = [f"family{i}" for i in range(3000)]
    share = sum(fonts.split_of(n) == "unseen" for n in names) / len(names)
    assert abs(share - fonts.UNSEEN_PERMILLE / 1000) < 0.03
    assert [fonts.split_of(n) for n in names] == [fonts.split_of(n) for n in names]


def test_fonts_for_split_reader(built):
    out, _, manifest = built
    train = fonts.fonts_for_split(out, "train")
    assert set(train) == {f["id"] for f in manifest["fonts"] if f["split"] == "train"}
    glyphs = next(iter(train.values()))
    assert list(glyphs) == list(fonts.CHARS)
    image = Image.open(glyphs["A"])
    assert image.mode == "L" and image.size == (SIZE, SIZE)
    with pytest.raises(ValueError):
        fonts.fonts_for_split(out, "test")


def test_licences_are_read_from_debian_copyright_files():
    dep5 = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2010 Someone\nLicense: OFL-1.1\n\n"
            "Files: debian/*\nCopyright: 2012 Packager\nLicense: GPL-2+\n\n"
            "License: OFL-1.1\n text of the licence\n")
    assert fonts.licences_of(dep5)[0] == ["OFL-1.1"]
    free = "This Font Software is licensed under the SIL Open Font License, Version 1.1.\n"
    assert fonts.licences_of(free)[0] == ["OFL-1.1"]


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_cached_package_is_not_downloaded_and_a_version_change_is_loud(tmp_path, monkeypatch, capsys):
    package = tmp_path / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN" / "control").write_text(
        "Package: fonts-fake\nVersion: 2.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: fake\n")
    _copy(DEJAVU, package / "usr/share/fonts/truetype/fake" / DEJAVU.name)
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(package),
                    str(cache / "fonts-fake_2.0-1_all.deb")], check=True, capture_output=True)
    monkeypatch.setattr(fonts, "PACKAGES", {"fonts-fake": ("1.0-1", "0" * 64)})
    monkeypatch.setattr(fonts.subprocess, "run", _no_apt(subprocess.run))
    fetched = fonts.fetch_packages(["fonts-fake"], cache)
    assert fetched[0].version == "2.0-1" and fetched[0].pinned_version == "1.0-1"
    assert "differs from the pinned 1.0-1" in capsys.readouterr().err
    assert fonts.font_files(fetched[0].root)[0].name == DEJAVU.name
    marker = (fetched[0].root / ".extracted").stat().st_mtime_ns
    fonts.fetch_packages(["fonts-fake"], cache)  # second time: nothing downloaded, nothing unpacked again
    assert (fetched[0].root / ".extracted").stat().st_mtime_ns == marker


def _no_apt(run):
    def guarded(cmd, *args, **kwargs):
        assert cmd[0] != "apt-get", "a cached package must not be downloaded again"
        return run(cmd, *args, **kwargs)
    return guarded
