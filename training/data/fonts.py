"""Build the font glyph dataset for few-shot font style (FUNIT): A-Z, a-z, 0-9 of every usable Debian font.

    python -m training.data.fonts --out data/fonts-64 --size 64

Debian `fonts-*` packages are fetched with `apt-get download` at pinned versions (sha256 checked, a loud
warning if the archive resolves another version), unpacked with `dpkg-deb -x` into the cache (once), and
every .ttf/.otf/.ttc/.otc face is rendered with Pillow. Output:

    OUT/<train|unseen>/<font_id>/<code point, 4 hex digits upper>.png   e.g. train/fonts-go__Go-Bold__0/0041.png
    OUT/manifest.json      packages (version, sha256, licences), fonts, dropped fonts and why, split rule, counts
    OUT/metrics.json       per font: px per em, and per glyph the pen origin and advance (to set a line of text)
    OUT/licences/<package>.copyright   each package's Debian copyright file

`font_id` is `<package>__<file stem>__<face index>`. `--from-dir DIR` builds from font files already on disk
(no download; the "package" of a file is `local-<its folder>`): the tests use it on /usr/share/fonts.

Rendering. Grayscale, dark ink (0) on white (255). Each glyph is drawn 4x oversampled, cropped to its ink,
centred (ink bounding box) in a SIZE x SIZE square and box-filtered down. **One scale per font**: the font's
largest glyph (the largest ink width or height over its 62 glyphs) just fits inside SIZE - 2 * MARGIN, and
every other glyph of the font keeps its size relative to it, so `o` stays smaller than `O`, `x` than `X`,
and a light weight stays thin: FUNIT learns a font from a few of its glyphs, and those must look like one
font. Glyphs are centred one by one (not on a shared baseline), which is also how a reference a person drags
in gets normalised (crop to ink, centre); the baseline and advance of every glyph are kept in metrics.json
so a word can still be set on a line. Nothing is ever clipped (a glyph that comes out a pixel too big after
hinting is shrunk to fit).

Filters, in this order; every drop is printed and recorded in the manifest with its reason. The checks look
at the glyphs of the measuring pass (fixed em size), so they decide the same whatever --size is.
  1. unreadable: Pillow/FreeType cannot open the face at an arbitrary size (bitmap-only fonts).
  2. identical file: byte-identical to a font file already taken (one font in two folders or packages).
  3. missing: a character draws nothing or draws the font's .notdef glyph (the glyph of an unmapped code
     point; this is the cmap check, without fontTools).
  4. all caps: more than MAX_CAPS_SAME lower-case letters draw the same image as their capital (soft
     Jaccard distance < CAPS_SAME_JACCARD at 32 px, one scale per font): distinct characters must give
     distinct images, and FUNIT's ground truth for `a` must be an `a`. Measured: text fonts have 0-3 such
     letters (c o s v w x z in fonts whose x-height is near the cap height), unicase designs 4-7, all-caps
     fonts 11-26; nothing has 8-10.
  5. illegible: dingbats, symbols, other scripts in the Latin slots, letters in frames or boxes. Each glyph
     is cropped to its ink, stretched to 24 x 24 (so condensed and wide designs compare alike) and blurred;
     its LEGIBILITY_K nearest glyphs (cosine) among the same kind of character (upper case, lower case,
     digits) of fonts of OTHER family groups vote, and the score is the share that are the same character.
     A font must score at least MIN_LEGIBILITY on each of upper case, lower case and digits (the worst of
     the three counts, so a text font with skulls for digits or maths symbols for lower case goes too).
     Measured: there is no clean gap; on contact sheets nearly everything under 0.2 is junk (stars,
     snowflakes, Tamil, maths symbols, framed letters) with a few flourished scripts (Kristi, Joscelyn,
     Bajaderka) lost, and 0.22-0.35 is legible display type; 0.22 drops the Computer Modern symbol fonts
     (0.21) and keeps the lowest legible ones (Fette Fraktur 0.23).
  6. near duplicate: mean |difference| of all 62 glyphs (32 px, per-font scale, values in [0, 1]) to an
     already kept font below NEAR_DUPLICATE_MAD; fonts are visited in font_id order and the first is kept.
     Measured: the nearest-font distances dip at 0.0075-0.0125; under 0.01 the pairs render alike on the
     sheets (a font and its "z" or "No2" re-issue, a stencil cut of the same face, Verana Oblique and its
     Arkpandora copy); from 0.012 they are weights or real variants (regular/bold, 8x14/9x14 pixel sizes),
     which are different classes for FUNIT and are kept.

Split. Whole fonts, grouped by family: the family group is the first word of the family name (two words
for `Px <vendor>` bitmap fonts), so `DejaVu Sans`, `DejaVu Sans Mono Bold`, `Neural` and `Neural Outline`
stay together. Groups that hold two fonts closer than SPLIT_MERGE_MAD are merged (clones of one design
under different names, such as Verana, Aerial and Veranda, all Bitstream Vera), so no near copy of an
unseen font is trained on. A group is **unseen** when `sha1(group) % 1000 < UNSEEN_PERMILLE`, else train.
The dataset itself is never committed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageFont

from translator.funit import ink_of  # one function draws the glyphs here and the typed words in the app

DATA_VERSION = "fonts-v1"  # bump when the package list, rendering, a threshold or the split rule changes

CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
SPLITS = ("train", "unseen")
FONT_SUFFIXES = {".ttf", ".otf", ".ttc", ".otc"}

MARGIN_FRACTION = 1 / 16  # 4 px at 64 px, on every side, around the font's largest glyph
OVERSAMPLE = 4            # draw at 4x and box-filter down: smooth edges, sub-pixel centring
MEASURE_EM = 256          # em size (px) of the first pass that measures the ink boxes
FEATURE = 32              # side of the per-font-scaled glyph images used by the duplicate checks ...
FEATURE_MARGIN = 2        # ... with this margin
FEATURE_SIDE = 24         # side of the stretched glyph used by the legibility check
NOTDEF_PROBE = "\U0010FFFD"  # plane-16 private use: no font here maps it, so it draws the .notdef glyph

# Filter thresholds, measured on the 98-package build (distributions and contact sheets; see the docstring).
CAPS_SAME_JACCARD = 0.1   # a lower-case letter whose image is this close to its capital's is "the capital"
MAX_CAPS_SAME = 3         # more than this: all caps or unicase (text fonts: 0-3; unicase 4-7; all caps 11-26)
LEGIBILITY_K = 10         # neighbours voting on each glyph
MIN_LEGIBILITY = 0.22     # the worst of upper case, lower case, digits must score at least this
NEAR_DUPLICATE_MAD = 0.01  # two fonts whose 62 glyphs differ less than this (32 px, [0, 1]) are one font
SPLIT_MERGE_MAD = 0.02    # fonts this close (weights, clones of one design) always share a split
UNSEEN_PERMILLE = 110     # sha1(group) % 1000 below this: unseen (about 15% of the fonts)

# Debian bookworm packages, the survey's 98-package list (741 fonts after this builder's filters):
# name -> (version, sha256 of the .deb). Three are architecture-specific (ARCH_SPECIFIC); their sums are for
# amd64, and another architecture's build is recorded with a warning instead of failing the check.
PACKAGES = {
    "fonts-3270": ("3.0.1-1", "d182dd722580251486253c97c6664e7fd743761a9be3a3479a1ed3177982ead1"),
    "fonts-adf-accanthis": ("0.20190904-2", "7e43456f11cad9fcbf486050ba979e446934a4be38a5d22bb3489d9dcb5244c5"),
    "fonts-adf-gillius": ("0.20190904-2", "75c5f6ecc9f289c2a2146034b6e00d46d57cce818a7394fba8bb0543fab9f64e"),
    "fonts-adf-ikarius": ("0.20190904-2", "72f8dfe5224ad2aaed3a37ce3a671a35629889d75368abfcf3c404690bf0da6c"),
    "fonts-adf-irianis": ("0.20190904-2", "0d1bae9eba74d23508e9281b6c88cc3e330bc97937bc447047f6a81ad842a5cb"),
    "fonts-adf-libris": ("0.20190904-2", "f00e5c10887b256cfed544bb3edf026a3c715d8510766cb3c6e8a90640a3d1d9"),
    "fonts-adf-mekanus": ("0.20190904-2", "7d175e7a54f1463403507a23934bbc60ed8a709bbbd09ee6ea4780b9794be65f"),
    "fonts-adf-oldania": ("0.20190904-2", "e2ab27b56d5fef487b86631cb719eeb14ab9cbdb10ff731cf33563f25758c09b"),
    "fonts-adf-romande": ("0.20190904-2", "a38d2e6722e429c7d1c4bafbdb6ea78880cf3356eb0996a2ba6e10510dd515c1"),
    "fonts-adf-solothurn": ("0.20190904-2", "2075bf2aa861a88b49914853a69570415d994ac9dbe7e07cc4c29ec5e6856bb4"),
    "fonts-adf-verana": ("0.20190904-2", "988242e1667bfccb80251d58662cf313a76cdce2b4195a61c1ea29a543327434"),
    "fonts-aenigma": ("0.0.20080511+dfsg-4", "c7f33a4e5932af82a92c81a5a993a1d117c4309b47532cb0d9c3ad34bc54f5a8"),
    "fonts-aksharyogini2": ("1.0-2", "30df6e8fbc2bb4a74c21148ca4af1ee44705f84146150cd06ea28b9dc23f187d"),
    "fonts-alee": ("13.3", "9d38eb6c2ff02864035d56d89a398288371891d2e7e20fb909f9ef18c0a23c54"),
    "fonts-allerta": ("2.01+dfsg1-4", "b7d113ac8820ce82ebfbc7a493f85702a082bbfba1641f517c5b0b99456dae37"),
    "fonts-amiga": ("1.0-2", "d3a13d5053305484191c701d5db54b4b63d5233faee4684c55769c48f3ca85c5"),
    "fonts-apropal": ("1.0-2", "24043e246d2df4d955308fd79321501bc32383e01ab48fea5fa016aa2c485eb3"),
    "fonts-arkpandora": ("2.04-1.1", "0c95e6cd1f275637bf4b7e7e2cfbbff48108f073173e845cfaf5ff31799f766b"),
    "fonts-atarismall": ("2.2-5", "4648953c388054d5bbce138138b750ba0dab80c961420dccc1121025916dacc7"),
    "fonts-babelstone-modern": ("6.002-3", "5bde68fe419f9d48f62b758c02bf1bdf9545aed75ef68190b3560c45af845f68"),
    "fonts-bajaderka": ("1.0-4", "36561e17df723a4104b8ce62bd9d323a8521c4aa44e8767f82538c25b1464e0c"),
    "fonts-beteckna": ("0.5-3", "36075fb2e3ae1a4901fe61ab5ed490b7b6ed18408c96fdb993010b4acf281e89"),
    "fonts-blankenburg": ("0.1-3", "2f58ed2293aed56a39f6ed34b37a49725f2ad0830eb2ec4116f9b4d6e8e630b7"),
    "fonts-bpg-georgian": ("2012-5", "49f4da40b766e073e58a731b66fa6a4b28c0265fbfefbb62e8199a2565072431"),
    "fonts-breip": ("1:0.5.1-3", "1f0ea903300b89cb55d107ee4a12be82118ada0384d8bd9db0aad8e1f8c1aa49"),
    "fonts-bwht": ("0.1-3", "5dd1d688f690fcafac659761c20cade5ef49ffc20fd7ba6b953d7d38d5165839"),
    "fonts-cegui": ("0.8.7+git20220615-3", "2dc808a20d3476a101efdbf41c5e14a56472ede5e3ac00f176ad6e31b0ceff83"),
    "fonts-century-catalogue": ("001.001-8", "e75641b0ba012c9efacd28c27a0405e27075679713b0ef60ad47713b0f12a298"),
    "fonts-cherrybomb": ("3.00+dfsg-2", "0af3a10a7484b93ddbb012bd81b1629ae4a00e6f337080daa37411dcdf5cecb9"),
    "fonts-clear-sans": ("1.00-2", "0684588e6a2b4a33ebeb032c8e4aa76c86d960ae6dc135e2ecc9ef90da83e7c1"),
    "fonts-courier-prime": ("0+git20190115-3", "6f827dd190446abbf83972f01e3f0db2c980e73bd6fb85b56d9d9a8f1755149f"),
    "fonts-dancingscript": ("1.2-2", "987b8182611e1f3d9e7b19a82787614470dd8c4ed894a4dedbebc2308703b216"),
    "fonts-dustin": ("20030517-14", "4f74523ed2f3987279478a06933694ea91dadbe607b1c4077a25ca48c52ad3a7"),
    "fonts-ecolier-court": ("1.00-6", "8ce2aba588adffc3bff453dae91af24b26ba7d0ce458127ad38f68d4fd36415b"),
    "fonts-ecolier-lignes-court": ("1.00-7", "a1070bcf5429c45fa2983771a13fef9f21a97f63a3e1e03a212f08ed085efe8a"),
    "fonts-eeyek": ("2.000-1", "b8a4a42ad4056e03b6caff1b83259e1daddbc23999cb7259b95d6dd1041d9f9c"),
    "fonts-engadget": ("1.001-1-6", "faadf16d7ac7e106b60c74645e96eb001f3bcc65af1e8b6677e9431d3a6e5e52"),
    "fonts-fantasma": ("1.1+repack1-3", "b29e4a01a3526427a69513c1549cceeff375b4290a91d5e53fbe9524c424dd83"),
    "fonts-femkeklaver": ("1.0-4", "93b34dc4752ac43634fffb93c985366a34dea16886287ae405d5b3e87cd9a7b4"),
    "fonts-ferrite-core": ("2.02+ds-1", "323bdb5ba533f4eace73eee3bf7a578365ccdf326dae0fd7226ee32a13ba08c2"),
    "fonts-gamaliel": ("0.1-2", "5edc8ac61305cca8389ea156125bbe9cc102497c7ec615f8d792235d79966f13"),
    "fonts-gargi": ("2.0-6", "8dd15d756ae594f34b76b9a102cb632d3cae999fe3e4ba526ef2a561a98abd7b"),
    "fonts-gfs-theokritos": ("1.1-6", "e2a51c99c99ae455a70e978199303661bd01e6fcd07b365cf7926ff4c40ec543"),
    "fonts-glasstty": ("0-2", "f3c65bebdbbf51a617e2f59f3c89371537435e70808124573889495afc5beae7"),
    "fonts-gnutypewriter": ("1.0-2", "9ed382b500341c1a5dc512b065935d6eb976b6c70a5f33c75a1c3404ff131995"),
    "fonts-go": ("0~20170330-1", "6d1f3b1ee1e3d5a25be14137a5c47a732d4c02f7282ea6babf697a002479aa88"),
    "fonts-gotico-antiqua": ("0+git20190704-4", "efba93baf2da2575e29553c7d2913d04520cd92e87ddeb1a47e88e644bc4f3b7"),
    "fonts-goudybookletter": ("2010.07.03-6", "25f3c8db503e161f70d0e6c26143f84b44d76487af1e4b1100c9bff0aa527346"),
    "fonts-havana": ("1.0-4", "36abdb945fc21cb5a3f1a7a02c759cbf3bd75b42d747d3305ee68c518a108da8"),
    "fonts-hermit": ("1.2.0+ds2-1+b1", "e2a4ca7f13c9adc0ae30890f9666a6e8cd8d41726800f4ba6a7e8d03b0766eea"),
    "fonts-humor-sans": ("1.0-4", "84bd0c40b65dc345e05396a4ffb64282c14fbbb6e7079126eeabc92bd9fe7311"),
    "fonts-inconsolata": ("001.010-6", "bb5015c631cd47aa7d9d6e0ecd101f0e1234300f935e7719ea32ed9b640f0ac4"),
    "fonts-isabella": ("1.202-4", "ee0c30fd0b3fc6f0ab7cf1c1449e55b898fc77d43cd4afc07e936d472e0f80b3"),
    "fonts-joscelyn": ("1.012+ds-2", "55752b19b3e0075d33129a4f8394966dcc0fa2ef2dfe7ce37a4e49cbc52a03e6"),
    "fonts-jsmath": ("0.090709+0-4", "fde3c1d4c0fd30627a862113baadd8e82a0490a4ab4035151bc031caac09a2eb"),
    "fonts-junction": ("20110525.18de841-1.1", "de4fcf631587812696a6939764c1ec4c005a848749a4e11dde39fd5b3060c6dd"),
    "fonts-kaushanscript": ("1.02-2.1", "ead16c3fe1fd47037f5afbb5dec765290fb14bff545051a5507ea60186019414"),
    "fonts-klaudia-berenika": ("2011-09-03-2", "c8d48dd52e1d6dd467c936536c92663ad418a7516e2c2073a5296199efcef155"),
    "fonts-kristi": ("20101220-1", "03cdbe9ca6cb5ea863ad652ea94313666f275de526c3cb01e252da93019001c2"),
    "fonts-leckerli-one": ("20120409-1", "5667d604d3e28eb8be1c38f7601c8fcc2014e9dc25f841a3f210fc86ba18690b"),
    "fonts-lindenhill": ("1.2-6", "16b5fb9e39e6169a4e54dedce9f8e08a872fcb4e8d65b558a222be5aae2452a5"),
    "fonts-lobstertwo": ("2.0-2.1", "cd24c217d07c4688e47d6a5bf8e8909638855f4278ba1468e100a589bd15665a"),
    "fonts-lohit-deva": ("2.95.4-5", "f872a508d33322c1c24199656c1edac637c1df63d62cb47e2d23629aa770652f"),
    "fonts-lyx": ("2.3.7-1", "d4dd64a5f319b303623b8e1d5d813dbf620b77af1b479bae15b30c4b742b20a4"),
    "fonts-myanmar": ("0.0-1", "146c4820061a0fa44bf9f8a321364edc3ff2bde78e7254e9d9791701aaed280f"),
    "fonts-nafees": ("1.2-5.1", "bcadfdc9e1ad4b5c323e64d6c7830f142f84e538ad1077f6f92ecd05ca91c0b7"),
    "fonts-national-park": ("0.0~20220205-2", "27364a8f483c2bd1c5d9e239e20e00733d3db8a7f51424b88e4116fae5b958d3"),
    "fonts-ocr-a": ("1.0-10", "d2b11ad1789233dfdc6c6aa98c8b8deabf11be90b62261362b8d8fe7fd9e2eae"),
    "fonts-ocr-b": ("0.3~dfsg1-1", "56e6a6bfe5d77bbb4f0a6964ce1f8ed3679d7c1a138064bcaf6cc3480c3628f3"),
    "fonts-opendin": ("1.0-4", "167c563edfbf0df0b9cf5935aec311fb3ed00b88c42a83f757283bb756410280"),
    "fonts-osifont": ("0.1.20220224-1", "6612a8516ac9b013f30988bc5f03c831e58cc04b46424de6e2359489172a35f5"),
    "fonts-oxygen": ("4:5.4.3-4", "9f048938d1bb7f4ac8da0490773f0073dcc8a8a9e103d2b3aa3343796af8825b"),
    "fonts-pagul": ("1.0-8", "f63769f913363819b938ea9fa643b66b25fe66d1be1cc756856a13a575bde4ae"),
    "fonts-pc-extra": ("1.0-2", "f67a0577c91addcc25412e1bb353f876301fd89d9ed52db41e23fce05b8a9f4f"),
    "fonts-pc": ("1.0-2", "424bdfee5ed1961d3c0a104eb1390c3f057dcd1e28c6c1d0906bbb4e0f763650"),
    "fonts-povray": ("1:3.7.0.10-2", "bc9ea205b4ecc91785c456d6fff2698c8529d371a962d7b532157928ae98bd03"),
    "fonts-prociono": ("2.3-6", "95756728048274924e02263a33357af1bba7e6509ffc2581238deb55c0eb1760"),
    "fonts-proggy": ("1.2.0+ds2-1+b1", "5b01691d05ad0dba8b14832fb6473244bfdea6a827ddeefe84c5c6abf08b586c"),
    "fonts-quattrocento": ("1.1-2.1", "e59b8d429493e785cf16ac84b132e302ecb52fb06f0c309f46bdea045c9fc2eb"),
    "fonts-quicksand": ("0.2016-2.1", "1175e5c64f116887b37ec3c8faea1f411bdef356580bc22298c3c9da75fac120"),
    "fonts-radisnoir": ("0.9b-5", "2de0bbf8e98afd4ffba707d8a6a94c67486d7621150e026269a6fd8c8f0cf983"),
    "fonts-rit-sundar": ("2.0.0+20170909-2", "84cb47ec1c65ae8e7060102db6fdc9244e6e9349b966bc6dac882a7ea2d68f78"),
    "fonts-roadgeek": ("3.1-3", "d32d92d14515b3da7f9f180759cab4d413286f14fbfef049f5b0746d2c9a6d01"),
    "fonts-routed-gothic": ("1.0.0+git20210723.e22ee83+dfsg-2",
                            "d3755460b594d45b7ef28b4c4043873b6521345b36cf7c46237ddfa941947516"),
    "fonts-rufscript": ("010-6", "72a7300913e52795b7915ac5873eda633a80dcb49bb590711cde83b270b0f606"),
    "fonts-sambhota-yigchung": ("1.2-2.1", "0430043dab004cb26889b9f50821bcb3e8b12d22c0b8c410fcc925e89a0c207f"),
    "fonts-sixtyfour": ("1.0-2", "edee27acaf79714a053de95d7cede1dd8650e0fd216dfa73f50e0dff4b099a4a"),
    "fonts-sjfonts": ("2.1-2", "f6fdb38cb13a7772ebbb03db21ca118125b136caa170e2a77b17d1f9f4c504f0"),
    "fonts-smc-suruma": ("3.2.3-1", "e37e29ccb7aeffe2d313dc394eb538532dc3d2d02a198e783df5ea05240af940"),
    "fonts-smc-uroob": ("2.0.2-1", "773a242365fa752ee9cbccfef4fdaa3b5b7bbf834fbdc49f9af9d83eebd3cd7d"),
    "fonts-spleen": ("1.9.1-1", "30327f54c2ef1bf9b257cebe601df089b1791d68f05df5fa175bb7d8aa014cc6"),
    "fonts-staypuft": ("0.04-10", "070b9ec5e45b843ecc6226a317bb10e8d0c10d3fee6dfdcd138d6ebb471a54c5"),
    "fonts-summersby": ("1.007-12", "509ef886917380b1b8f5c19b7cd20507fb212764a9e79e8f64229710dca06e7e"),
    "fonts-taml-tamu": ("1.0-4", "d357f118947d27a2aaebfdfd6c208e426dcc871d96c730d16ce969395f8cc7e5"),
    "fonts-taml-tscu": ("1.0-3", "28e914ae31498cecef32cbc7ca3e7d1e8c66e9896958739eeb365bf6b5768cf5"),
    "fonts-terminus": ("1.2.0+ds2-1+b1", "b02d06e3899c705e2e7917e12622481896417ec2f0b460f76904f015046b6600"),
    "fonts-tiresias": ("0.1-6", "d810a9365337c72ec6d5b5bf667e91bcd73fbfea27fec2a7aeebe756a9b3fc38"),
    "fonts-triod-postnaja": ("20130809-2", "fd7e32d3405db4f2c0ddaf5db2c9935ec543b590e7b781fe1e76eda770b6949e"),
}
ARCH_SPECIFIC = {"fonts-hermit", "fonts-proggy", "fonts-terminus"}
PINNED_ARCH = "amd64"

# Family names whose first word is a maker's prefix, not a design: the group takes the second word too
# ("Px IBM VGA8" -> px-ibm, from fonts-pc-extra's 72 "Px <vendor> ..." bitmap fonts).
PREFIX_WORDS = {"px"}


# ----------------------------------------------------------------------------------------------- packages

@dataclass
class Fetched:
    name: str
    version: str
    pinned_version: str | None
    sha256: str
    arch: str
    deb: Path
    root: Path


def _deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], check=True, capture_output=True,
                          text=True).stdout.strip()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached_debs(cache: Path, name: str) -> list[Path]:
    return sorted(p for p in cache.glob(f"{name}_*.deb") if p.name.split("_")[0] == name)


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def fetch_packages(names: list[str], cache: Path) -> list[Fetched]:
    """apt-get download what is not in the cache yet (pinned versions first), check, unpack once."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not _cached_debs(cache, n)]
    if missing:
        print(f"apt-get download: {len(missing)} package(s)", flush=True)
        specs = [f"{n}={PACKAGES[n][0]}" if n in PACKAGES else n for n in missing]
        if subprocess.run(["apt-get", "download", *specs], cwd=cache).returncode != 0:
            for name, spec in zip(missing, specs):  # one at a time, falling back to the archive's version
                if _cached_debs(cache, name):
                    continue
                if subprocess.run(["apt-get", "download", spec], cwd=cache).returncode != 0:
                    warn(f"{spec} is not in the archive; downloading the version apt resolves instead")
                    if subprocess.run(["apt-get", "download", name], cwd=cache).returncode != 0:
                        raise SystemExit(f"apt-get download {name} failed (no package lists? run "
                                         f"`apt-get update` once; a Debian bookworm archive is expected)")
    fetched = []
    for name in names:
        debs = _cached_debs(cache, name)
        if not debs:
            raise SystemExit(f"{name}: no .deb in {cache} after apt-get download")
        pinned_version, pinned_sha = PACKAGES.get(name, (None, None))
        versions = {deb: _deb_field(deb, "Version") for deb in debs}
        deb = next((d for d, v in versions.items() if v == pinned_version), debs[-1])
        version, arch, digest = versions[deb], _deb_field(deb, "Architecture"), _sha256(deb)
        if pinned_version is not None and version != pinned_version:
            warn(f"{name}: resolved version {version} differs from the pinned {pinned_version}; "
                 f"the build is not the pinned one (sha256 {digest} recorded in the manifest)")
        elif pinned_sha is not None and digest != pinned_sha:
            if name in ARCH_SPECIFIC and arch != PINNED_ARCH:
                warn(f"{name}: {arch} build, the pinned sha256 is for {PINNED_ARCH}; recorded {digest}")
            else:
                raise SystemExit(f"{deb}: sha256 {digest} does not match the pinned {pinned_sha}")
        root = cache / "root" / name
        marker = root / ".extracted"
        if not (marker.exists() and marker.read_text() == digest):
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            marker.write_text(digest)
        fetched.append(Fetched(name, version, pinned_version, digest, arch, deb, root))
    return fetched


_SPDX_GUESSES = [  # for copyright files that are not machine-readable (DEP-5)
    (r"open font license,?\s+version 1\.1|ofl[- ]1\.1", "OFL-1.1"),
    (r"open font license,?\s+version 1\.0|ofl[- ]1\.0", "OFL-1.0"),
    (r"apache license", "Apache-2.0"),
    (r"lesser general public license|\blgpl", "LGPL"),
    (r"(?<!lesser )general public license|\bgpl\b", "GPL"),
    (r"font exception|exception does not however invalidate", "font exception"),
    (r"public domain", "public-domain"),
    (r"\bmit license|\bexpat\b", "MIT"),
]


def licences_of(copyright_text: str) -> tuple[list[str], str]:
    """Licence names of the font files: the `License:` of every DEP-5 `Files:` paragraph except debian/*,
    or a keyword guess for free-form copyright files. Returns (names, how they were read)."""
    if copyright_text.lstrip().lower().startswith("format:"):
        names = []
        for paragraph in re.split(r"\n\s*\n", copyright_text):
            fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", paragraph, flags=re.M))
            files, licence = fields.get("Files"), fields.get("License")
            if files is None or not licence:
                continue
            if all(f.startswith("debian/") for f in files.split()):
                continue
            if licence.strip() not in names:
                names.append(licence.strip())
        return names, "DEP-5 License fields of the non-debian/ Files paragraphs"
    lower = copyright_text.lower()
    return [name for pattern, name in _SPDX_GUESSES if re.search(pattern, lower)], \
        "keywords of a free-form copyright file"


# ---------------------------------------------------------------------------------------------- font files

@dataclass(frozen=True)
class Face:
    font_id: str
    package: str
    path: Path
    source: str   # path shown in the manifest (inside the package, or the local file)
    index: int


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "font"


def face_count(path: Path) -> int:
    with path.open("rb") as f:
        head = f.read(12)
    if head[:4] == b"ttcf":  # TrueType/OpenType collection: numFonts after tag and version
        return int.from_bytes(head[8:12], "big")
    return 1


def font_files(root: Path) -> list[Path]:
    """Font files under root (symlinks followed, dangling ones skipped), sorted."""
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in FONT_SUFFIXES:
            if not path.exists():
                print(f"  skip dangling link {path}")
            elif path.is_file():
                out.append(path)
    return out


def collect_faces(sources: list[tuple[str, Path, Path]]) -> tuple[list[Face], dict[str, str]]:
    """sources: (package, font file, path to show). Returns faces and {font_id: drop reason} for files that
    are byte-identical to one already taken."""
    faces, dropped, seen_files, used_ids = [], {}, {}, set()
    for package, path, shown in sorted(sources, key=lambda s: (s[0], str(s[2]))):
        digest = _sha256(path)
        try:
            n = face_count(path)
        except OSError as error:
            n = 1
            print(f"  {path}: {error}")
        for index in range(n):
            stem = _safe(path.stem)
            font_id = f"{_safe(package)}__{stem}__{index}"
            if font_id in used_ids:  # Foo.otf and Foo.ttf in one package
                font_id = f"{_safe(package)}__{stem}-{path.suffix[1:].lower()}__{index}"
            k = 2
            while font_id in used_ids:
                font_id, k = f"{_safe(package)}__{stem}-{k}__{index}", k + 1
            used_ids.add(font_id)
            if (digest, index) in seen_files:
                dropped[font_id] = f"identical file: same bytes as {seen_files[digest, index]}"
                continue
            seen_files[digest, index] = font_id
            faces.append(Face(font_id, package, path, str(shown), index))
    return faces, dropped


# --------------------------------------------------------------------------------------------- rendering

def glyph_text(ch: str, face: Face) -> str:
    """The text drawn for character ch (the character itself; a seam for tests)."""
    return ch


def _load(path: Path, size: float, index: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, index=index, layout_engine=ImageFont.Layout.BASIC)


def _feature(ink: Image.Image) -> np.ndarray:
    """A glyph's shape for the legibility check: its ink stretched to 24 x 24 (so condensed and wide fonts
    compare alike), blurred, flattened, in [0, 1]."""
    side = FEATURE_SIDE
    resample = Image.Resampling.BOX if min(ink.size) >= side else Image.Resampling.BILINEAR
    stretched = ink.resize((side, side), resample).filter(ImageFilter.GaussianBlur(1))
    return np.asarray(stretched, dtype=np.float32).ravel() / 255


def _place(inks: list[Image.Image], side: int, margin: int) -> np.ndarray:
    """Glyph images at one scale for the whole font (its largest ink extent fits side - 2 * margin), each
    centred; 255 = ink. Used at 32 px by the duplicate checks, so they do not depend on --size."""
    extent = max(max(ink.size) for ink in inks)
    scale = (side - 2 * margin) / extent
    out = np.zeros((len(inks), side, side), np.uint8)
    for i, ink in enumerate(inks):
        w, h = max(1, round(ink.width * scale)), max(1, round(ink.height * scale))
        small = np.asarray(ink.resize((w, h), Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR))
        x, y = (side - w) // 2, (side - h) // 2
        out[i, y:y + h, x:x + w] = small
    return out


def render_face(job: tuple[Face, int]) -> dict:
    """Render one face. Returns {"font_id", "family", "style"} and either "error" or "glyphs" ((62, S, S)
    uint8, 0 = ink), "features" ((62, 576) float32), "small" ((62, 32, 32) uint8, 255 = ink) and "metrics".
    Features and small images come from the measuring pass at a fixed em size, so every filter decision is
    the same whatever --size is."""
    face, size = job
    result = {"font_id": face.font_id}
    try:
        font = _load(face.path, MEASURE_EM, face.index)
        result["family"], result["style"] = font.getname()
    except (OSError, ValueError) as error:
        return {**result, "error": f"unreadable: {error}"}
    try:
        notdef = ink_of(font, NOTDEF_PROBE)
        measured, missing = [], []
        for ch in CHARS:
            ink = ink_of(font, glyph_text(ch, face))
            if ink is None:
                missing.append(ch)
            elif notdef is not None and ink[1] == notdef[1] and ink[0].tobytes() == notdef[0].tobytes():
                missing.append(ch)
            measured.append(ink)
        if missing:
            return {**result, "error": f"missing: {len(missing)} of 62 characters draw nothing or .notdef "
                                       f"({''.join(missing[:20])}{'...' if len(missing) > 20 else ''})"}
        features = np.stack([_feature(ink) for ink, _ in measured])
        small = _place([ink for ink, _ in measured], FEATURE, FEATURE_MARGIN)
        extent = max(max(box[2] - box[0], box[3] - box[1]) for _, box in measured)
        margin = round(size * MARGIN_FRACTION)
        target = OVERSAMPLE * (size - 2 * margin)  # the largest glyph's extent at 4x
        em = MEASURE_EM * target / extent
        font = _load(face.path, em, face.index)
        hi = OVERSAMPLE * size
        glyphs = np.empty((len(CHARS), size, size), np.uint8)
        metrics = {}
        for i, ch in enumerate(CHARS):
            drawn = ink_of(font, glyph_text(ch, face))
            if drawn is None:  # hinting erased it at this size (never seen); use the measured one, scaled
                drawn = measured[i]
            ink, (bx0, by0, bx1, by1) = drawn
            fit = min(1.0, target / max(ink.size))
            if fit < 1.0:  # a pixel or two over after hinting: shrink, never clip
                ink = ink.resize((max(1, round(ink.width * fit)), max(1, round(ink.height * fit))),
                                 Image.Resampling.LANCZOS)
            canvas = Image.new("L", (hi, hi), 0)
            x, y = round((hi - ink.width) / 2), round((hi - ink.height) / 2)
            canvas.paste(ink, (x, y))
            glyphs[i] = 255 - np.asarray(canvas.reduce(OVERSAMPLE))
            advance = font.getlength(glyph_text(ch, face))
            metrics[f"{ord(ch):04X}"] = {  # pen origin on the baseline, in output pixels, and the advance
                "origin": [round((x - bx0 * fit) / OVERSAMPLE, 2), round((y - by0 * fit) / OVERSAMPLE, 2)],
                "advance": round(advance * fit / OVERSAMPLE, 2)}
    except (OSError, ValueError) as error:
        return {**result, "error": f"unreadable: {error}"}
    return {**result, "glyphs": glyphs, "features": features, "small": small,
            "metrics": {"px_per_em": round(em / OVERSAMPLE, 3), "glyphs": metrics}}


# ------------------------------------------------------------------------------------------------ filters

def _jaccard_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Soft Jaccard distance sum|a - b| / sum max(a, b) along the last axis (0 = same image, 1 = disjoint)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return np.abs(a - b).sum(-1) / np.maximum(np.maximum(a, b).sum(-1), 1e-6)


def capitals_as_lowercase(small: np.ndarray) -> int:
    """How many of the 26 lower-case letters draw the same image as their capital (all-caps fonts: ~26)."""
    flat = small.reshape(len(CHARS), -1)
    return int((_jaccard_distance(flat[26:52], flat[:26]) < CAPS_SAME_JACCARD).sum())


CASE_GROUPS = {"upper": slice(0, 26), "lower": slice(26, 52), "digits": slice(52, 62)}


def legibility(features: np.ndarray, groups: list[str], k: int = LEGIBILITY_K) -> np.ndarray:
    """features (F, 62, D), family group of each font -> (F, 3) share of the k nearest glyphs (cosine) that
    are the same character, averaged over the upper-case letters, the lower-case letters and the digits.
    Neighbours are searched among the same kind of character (an `a` against every other lower-case
    glyph) of fonts of OTHER family groups, so sibling faces of one odd family cannot vouch for each other."""
    import torch  # only for a fast top-k

    fonts = len(features)
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    x = x - x.mean(-1, keepdim=True)
    x = x / (x.norm(dim=-1, keepdim=True) + 1e-8)
    group_ids = {g: i for i, g in enumerate(sorted(set(groups)))}
    font_group = torch.tensor([group_ids[g] for g in groups])
    scores = np.ones((fonts, len(CASE_GROUPS)), np.float32)
    for column, part in enumerate(CASE_GROUPS.values()):
        chars = x[:, part]                      # (F, n, D)
        n = chars.shape[1]
        flat = chars.reshape(fonts * n, -1)
        label = torch.arange(n).repeat(fonts)
        owner = font_group.repeat_interleave(n)
        purity = torch.empty(fonts * n)
        for start in range(0, fonts * n, 4096):
            stop = min(start + 4096, fonts * n)
            sim = flat[start:stop] @ flat.T
            sim.masked_fill_(owner[start:stop, None] == owner[None, :], -3.0)
            available = int((owner != owner[start]).sum())  # glyphs outside this font's group
            kk = min(k, available)
            if kk == 0:  # a single family: nothing to compare with, cannot judge
                purity[start:stop] = 1.0
                continue
            top = sim.topk(kk, dim=1)
            hits = (label[top.indices] == label[start:stop, None]) & (top.values > -2)
            purity[start:stop] = hits.float().sum(1) / kk
        scores[:, column] = purity.reshape(fonts, n).mean(1).numpy()
    return scores


def close_pairs(small: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, mean |diff|) for every pair of fonts (i < j) whose (62, 32, 32) images (255 = ink) differ by
    less than threshold on average, in [0, 1]. The L1 distance of the row (and column) sums is a cheap lower
    bound of the images' L1 distance, so only the few pairs under the threshold by that bound are compared
    pixel by pixel."""
    import torch

    x = torch.from_numpy(small.astype(np.float32) / 255)
    n, dims = len(x), small[0].size
    rows, cols = x.sum(3).reshape(n, -1), x.sum(2).reshape(n, -1)
    bound = torch.maximum(torch.cdist(rows, rows, p=1), torch.cdist(cols, cols, p=1)).numpy() / dims
    flat = x.reshape(n, -1).numpy()
    pairs = []
    for i in range(n):
        others = np.nonzero(bound[i, i + 1:] < threshold)[0] + i + 1
        if len(others):
            mad = np.abs(flat[others] - flat[i]).mean(1)
            pairs += [(i, int(j), float(d)) for j, d in zip(others, mad) if d < threshold]
    return pairs


def near_duplicates(ids: list[str], small: np.ndarray) -> dict[str, tuple[str, float]]:
    """Fonts whose 62 glyphs differ from an already kept font's by less than NEAR_DUPLICATE_MAD (mean
    |diff|, 32 px, [0, 1]); fonts are visited in id order, so the first of a set is kept.
    Returns {dropped id: (kept id, mean |diff|)}."""
    close = defaultdict(dict)
    for i, j, d in close_pairs(small, NEAR_DUPLICATE_MAD):
        close[i][j] = close[j][i] = d
    kept, dropped = set(), {}
    for i in sorted(range(len(ids)), key=lambda i: ids[i]):
        matches = {k: d for k, d in close[i].items() if k in kept}
        if matches:
            k = min(matches, key=lambda k: (matches[k], ids[k]))
            dropped[ids[i]] = (ids[k], matches[k])
        else:
            kept.add(i)
    return dropped


# -------------------------------------------------------------------------------------------------- split

def family_group(family: str) -> str:
    """The family's first word, lower case ("DejaVu Sans Mono Bold" -> dejavu, "Neural Outline BRK" ->
    neural): siblings that put their weight, width or decoration in the family name stay together."""
    tokens = re.findall(r"[a-z0-9]+", family.lower()) or ["unnamed"]
    return "-".join(tokens[:2]) if tokens[0] in PREFIX_WORDS and len(tokens) > 1 else tokens[0]


def split_groups(groups: list[str], small: np.ndarray) -> list[str]:
    """Merge family groups that hold two fonts closer than SPLIT_MERGE_MAD (mean |diff| over the 62
    glyphs): clones of one design under different names (Bitstream Vera's Verana / Aerial / Veranda, the
    IBM-compatible PC bitmap fonts) end up on one side. Returns the merged group of each font, named after
    the alphabetically first of its names."""
    parent = {g: g for g in groups}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for i, j, _ in close_pairs(small, SPLIT_MERGE_MAD):
        a, b = root(groups[i]), root(groups[j])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(g) for g in groups]


def split_of(group: str) -> str:
    return "unseen" if int(hashlib.sha1(group.encode()).hexdigest(), 16) % 1000 < UNSEEN_PERMILLE else "train"


# --------------------------------------------------------------------------------------------------- build

def _render_all(faces: list[Face], size: int, workers: int) -> list[dict]:
    jobs = [(face, size) for face in faces]
    if workers <= 1:
        results = []
        for n, job in enumerate(jobs, 1):
            results.append(render_face(job))
            if n % 100 == 0:
                print(f"  rendered {n}/{len(jobs)}", flush=True)
        return results
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(render_face, jobs, chunksize=4))


def build(out: Path, size: int, cache: Path, workers: int, from_dirs: list[Path] | None = None) -> dict:
    started = time.time()
    timings = {}
    out.mkdir(parents=True, exist_ok=True)
    licence_dir = out / "licences"
    packages = {}
    sources = []
    if from_dirs:
        for directory in from_dirs:
            for path in font_files(directory):
                package = f"local-{_safe(path.parent.name)}"
                sources.append((package, path, path))
                packages.setdefault(package, {"name": package, "version": None, "sha256": None,
                                              "licences": ["unknown (local folder)"], "source": str(path.parent)})
    else:
        fetched = fetch_packages(sorted(PACKAGES), cache)
        licence_dir.mkdir(exist_ok=True)
        for p in fetched:
            copyright_file = p.root / "usr/share/doc" / p.name / "copyright"
            entry = {"name": p.name, "version": p.version, "pinned_version": p.pinned_version,
                     "version_matches_pin": p.version == p.pinned_version, "sha256": p.sha256, "arch": p.arch,
                     "deb": p.deb.name}
            if copyright_file.is_file():
                text = copyright_file.read_text(errors="replace")
                entry["licences"], entry["licences_read_from"] = licences_of(text)
                shutil.copyfile(copyright_file, licence_dir / f"{p.name}.copyright")
                entry["copyright_file"] = f"licences/{p.name}.copyright"
            else:
                warn(f"{p.name}: no usr/share/doc/{p.name}/copyright in the package")
                entry["licences"] = []
            packages[p.name] = entry
            sources += [(p.name, path, path.relative_to(p.root)) for path in font_files(p.root)]
    timings["fetch_s"] = round(time.time() - started, 1)

    faces, dropped = collect_faces(sources)
    reasons = {font_id: {"reason": "identical file", "detail": detail} for font_id, detail in dropped.items()}
    print(f"{len(packages)} packages, {len(sources)} font files, {len(faces)} faces to render "
          f"({len(dropped)} identical files skipped)", flush=True)

    t = time.time()
    results = _render_all(faces, size, workers)
    timings["render_s"] = round(time.time() - t, 1)
    by_id = {face.font_id: face for face in faces}

    t = time.time()
    rendered = []
    for r in results:
        if "error" in r:
            reasons[r["font_id"]] = {"reason": r["error"].split(":")[0], "detail": r["error"]}
        else:
            rendered.append(r)
    candidates = []
    for r in rendered:
        r["caps_as_lowercase"] = caps = capitals_as_lowercase(r["small"])
        if caps > MAX_CAPS_SAME:
            reasons[r["font_id"]] = {"reason": "all caps",
                                     "detail": f"{caps} of 26 lower-case letters draw their capital "
                                               f"(> {MAX_CAPS_SAME})"}
        else:
            candidates.append(r)

    legible = []
    if candidates:
        scores = legibility(np.stack([r["features"] for r in candidates]),
                            [family_group(r["family"]) for r in candidates])
        for r, s in zip(candidates, scores):
            r["legibility"] = dict(zip(CASE_GROUPS, (round(float(v), 3) for v in s)))
            if s.min() < MIN_LEGIBILITY:
                worst = min(r["legibility"], key=r["legibility"].get)
                reasons[r["font_id"]] = {"reason": "illegible",
                                         "detail": f"{worst} {s.min():.2f} of nearest glyphs agree "
                                                   f"(< {MIN_LEGIBILITY}; {r['legibility']})"}
            else:
                legible.append(r)

    ids = [r["font_id"] for r in legible]
    duplicates = near_duplicates(ids, np.stack([r["small"] for r in legible])) if ids else {}
    for font_id, (kept_id, mad) in duplicates.items():
        reasons[font_id] = {"reason": "near duplicate", "detail": f"mean |diff| {mad:.4f} to {kept_id}"}
    kept = sorted((r for r in legible if r["font_id"] not in duplicates), key=lambda r: r["font_id"])
    timings["filter_s"] = round(time.time() - t, 1)

    # write
    t = time.time()
    fonts, metrics, digest = [], {}, hashlib.sha256()
    digest.update(json.dumps({"version": DATA_VERSION, "size": size, "chars": CHARS}).encode())
    wanted = {split: set() for split in SPLITS}
    merged = split_groups([family_group(r["family"]) for r in kept],
                          np.stack([r["small"] for r in kept])) if kept else []
    for r, group in zip(kept, merged):
        face = by_id[r["font_id"]]
        split = split_of(group)
        wanted[split].add(face.font_id)
        folder = out / split / face.font_id
        folder.mkdir(parents=True, exist_ok=True)
        for ch, glyph in zip(CHARS, r["glyphs"]):
            Image.fromarray(glyph, "L").save(folder / f"{ord(ch):04X}.png")
        digest.update(f"{split}/{face.font_id}".encode())
        digest.update(r["glyphs"].tobytes())
        fonts.append({"id": face.font_id, "family": r["family"], "style": r["style"],
                      "family_group": family_group(r["family"]), "group": group,
                      "split": split, "package": face.package, "file": face.source, "face_index": face.index,
                      "legibility": r["legibility"], "caps_as_lowercase": r["caps_as_lowercase"]})
        metrics[face.font_id] = r["metrics"]
    for split in SPLITS:  # fonts left over from an earlier build with other rules
        folder = out / split
        folder.mkdir(exist_ok=True)
        for stale in folder.iterdir():
            if stale.is_dir() and stale.name not in wanted[split]:
                shutil.rmtree(stale)
    timings["write_s"] = round(time.time() - t, 1)
    timings["total_s"] = round(time.time() - started, 1)

    counts = {split: sum(f["split"] == split for f in fonts) for split in SPLITS}
    groups = {split: len({f["group"] for f in fonts if f["split"] == split}) for split in SPLITS}
    dropped_list = [{"id": font_id, **reason, **({"package": by_id[font_id].package, "file": by_id[font_id].source}
                                                 if font_id in by_id else {})}
                    for font_id, reason in sorted(reasons.items())]
    manifest = {
        "data_version": DATA_VERSION,
        "content_sha256": digest.hexdigest(),
        "size": size,
        "characters": CHARS,
        "file_names": "<split>/<font_id>/<code point as 4 upper-case hex digits>.png",
        "rendering": {"mode": "L, ink 0 on white 255", "margin_px": round(size * MARGIN_FRACTION),
                      "oversample": OVERSAMPLE, "scale": "one per font: its largest glyph fits SIZE - 2*margin",
                      "placement": "each glyph's ink box centred; baseline and advance in metrics.json"},
        "filters": {"caps_same_jaccard": CAPS_SAME_JACCARD, "max_caps_same": MAX_CAPS_SAME,
                    "legibility_k": LEGIBILITY_K, "min_legibility": MIN_LEGIBILITY,
                    "near_duplicate_mad": NEAR_DUPLICATE_MAD},
        "split_rule": f"family_group = first word of the family name (two for {sorted(PREFIX_WORDS)}); "
                      f"groups holding two fonts with mean |diff| < {SPLIT_MERGE_MAD} are merged into one, "
                      f"named after its first name; sha1(group) % 1000 < {UNSEEN_PERMILLE} -> unseen",
        "counts": {"packages": len(packages), "font_files": len(sources), "faces": len(faces) + len(dropped),
                   "kept": len(fonts), **counts, "groups": groups,
                   "dropped": dict(Counter(r["reason"] for r in reasons.values()))},
        "timings": timings,
        "packages": [packages[name] for name in sorted(packages)],
        "fonts": fonts,
        "dropped": dropped_list,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics))
    return manifest


# ------------------------------------------------------------------------------------------------- reader

def fonts_for_split(root: str | Path, split: str) -> dict[str, dict[str, Path]]:
    """{font_id: {character: glyph png}} for one split of a built dataset, fonts in id order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    folder = Path(root) / split
    fonts = {}
    for font_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        glyphs = {ch: font_dir / f"{ord(ch):04X}.png" for ch in CHARS}
        if all(p.exists() for p in glyphs.values()):
            fonts[font_dir.name] = glyphs
    return fonts


def load_split(root: str | Path, split: str) -> tuple[list[str], np.ndarray]:
    """(font ids, uint8 array (fonts, 62, S, S)) with characters in CHARS order; ink is dark."""
    fonts = fonts_for_split(root, split)
    arrays = [np.stack([np.asarray(Image.open(p).convert("L")) for p in glyphs.values()])
              for glyphs in fonts.values()]
    return list(fonts), (np.stack(arrays) if arrays else np.zeros((0, len(CHARS), 0, 0), np.uint8))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/fonts-64"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=Path("data/font-debs"),
                        help="where .deb files are kept and unpacked (root/<package>/)")
    parser.add_argument("--from-dir", type=Path, action="append",
                        help="build from font files under this folder instead of downloading (repeatable)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.size, args.cache, args.workers, args.from_dir)
    for d in manifest["dropped"]:
        print(f"  dropped {d['id']}: {d['detail']}")
    print(json.dumps({"counts": manifest["counts"], "timings": manifest["timings"]}, indent=2))
    off_pin = [f"{p['name']} {p['version']} (pinned {p['pinned_version']})" for p in manifest["packages"]
               if p.get("pinned_version") and not p["version_matches_pin"]]
    if off_pin:
        warn(f"{len(off_pin)} package(s) not at the pinned version, so this is not the pinned dataset: "
             + ", ".join(off_pin))
    if manifest["counts"]["unseen"] < 80 and not args.from_dir:
        warn(f"only {manifest['counts']['unseen']} unseen fonts (the evaluation wants at least 80)")


if __name__ == "__main__":
    main()
