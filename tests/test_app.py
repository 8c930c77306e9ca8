"""The app, launched for real on 127.0.0.1 and driven through gradio_client as a user's script would."""
import contextlib
import os

import pytest
from gradio_client import Client, handle_file
from PIL import Image

import translator
from conftest import ROOT


@pytest.fixture(scope="module")
def client():
    import app

    demo = app.build_demo(fast=False)  # byte-exact comparisons below: eager PyTorch only (tests/test_fast_path.py)
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False, analytics_enabled=False)
    finally:
        demo.close()


@contextlib.contextmanager
def app_client(models: dict[str, str]):
    """The app built for these models (local folders allowed), launched on 127.0.0.1, and a client of it."""
    import app

    demo = app.build_demo(allow_local_models=True, models=models, fast=False)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False, analytics_enabled=False)
    finally:
        demo.close()


def test_every_endpoint_and_output_is_named(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/cyclegan", "/pix2pix", "/pix2pix_drawing"} <= set(endpoints)
    for name, spec in endpoints.items():
        assert all(p["parameter_name"] and not p["parameter_name"].startswith("param_") for p in spec["parameters"]), name
        assert all(r["label"] and not r["label"].startswith("value_") for r in spec["returns"]), name
    assert [p["parameter_name"] for p in endpoints["/cyclegan"]["parameters"]] == ["image", "direction", "model", "tiled",
                                                                                   "finish"]


def test_cyclegan_tab_translates_a_test_emoji(client):
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    translation, reconstruction, compare, info = client.predict(handle_file(str(example)), "a2b", "cyclegan-noto2twemoji",
                                                       api_name="/cyclegan")
    assert Image.open(translation).size == (256, 256) and Image.open(translation).mode == "RGB"
    assert Image.open(reconstruction).size == (256, 256)
    assert " ms** on cpu" in info and "using the bundled copy; Hub not reachable" in info


def test_the_finishing_stage_is_one_switch_away_with_the_raw_output_beside_it(client):
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    plain, _, none, info = client.predict(handle_file(str(example)), "a2b", "cyclegan-noto2twemoji", finish=False,
                                          api_name="/cyclegan")
    assert none is None and "finished" not in info  # switched off: the raw output, enlarged
    translation, _, compare, info = client.predict(handle_file(str(example)), "a2b", "cyclegan-noto2twemoji",
                                                   api_name="/cyclegan")  # on by default, as in the tab
    raw, finished = compare
    assert Image.open(raw).size == Image.open(finished).size == (256, 256) and "finished ×4" in info
    assert Image.open(finished).tobytes() == Image.open(translation).tobytes() != Image.open(raw).tobytes()
    assert none is None and Image.open(plain).tobytes() == Image.open(raw).tobytes()


def test_live_reruns_keep_the_raw_vs_finished_pair_server_side_until_its_accordion_opens():
    """A slider move re-translates live; the comparison pair (two more PNGs) travels only while its
    accordion is open: live events write a State, and opening the accordion (or the pair changing while it
    is open) fills the slider."""
    import gradio as gr

    import app

    demo = app.build_demo(fast=False)
    blocks = demo.blocks
    sliders = [c for c in blocks.values() if isinstance(c, gr.ImageSlider) and (c.elem_id or "").endswith("-compare")]
    assert {s.elem_id for s in sliders} >= {"cyclegan-compare", "pix2pix-compare"}
    for slider in sliders:
        writers = [d for d in demo.fns.values() if slider._id in [o._id for o in d.outputs]]
        names = {d.api_name for d in writers}
        family = slider.elem_id.removesuffix("-compare")
        # the named endpoints (API clients get the pair), the accordion's expand and the pair's change
        assert writers and {family} <= names, names
        live = [d for d in writers if d.api_name not in (family, f"{family}_drawing")]
        assert len(live) == 2, [(d.api_name, [t[1] for t in d.targets]) for d in live]
        assert sorted(t[1] for d in live for t in d.targets) == ["change", "expand"]
        assert all(d.inputs and isinstance(d.inputs[0], gr.State) for d in live)


def test_every_live_handler_returns_one_value_per_output(tmp_path):
    """Gradio fails a live event (a slider move, an upload) whose handler returns more or fewer values than
    its outputs: call each tab's live handlers as Gradio would, with the controls' own values."""
    import gradio as gr

    import app

    demo = app.build_demo(fast=False)
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    called = set()
    for d in demo.fns.values():
        name = getattr(d.fn, "__name__", "")
        if name not in ("live", "live_drawing", "rerun"):
            continue
        values = []
        for component in d.inputs:
            if isinstance(component, gr.Image):
                values.append(str(example))
            elif isinstance(component, gr.State):
                values.append("upload")  # rerun: the last input used was the upload
            elif isinstance(component, gr.Sketchpad):
                values.append(None)  # an empty canvas: the cleared result
            else:
                values.append(component.value)
        result = d.fn(*values)
        assert len(result) == len(d.outputs), (name, [type(o).__name__ for o in d.outputs])
        called.add(name)
    assert called == {"live", "live_drawing", "rerun"}


def test_an_example_clicked_again_is_answered_from_its_first_run(client, tmp_path):
    """Examples are cached lazily: the second click on an example with the same controls returns the first
    result; a user's own image (even one pixel off an example) and another control setting are computed."""
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[-1]
    first, *_, info = client.predict(handle_file(str(example)), "a2b", "cyclegan-noto2twemoji", api_name="/cyclegan")
    again, *_, info_again = client.predict(handle_file(str(example)), "a2b", "cyclegan-noto2twemoji",
                                           api_name="/cyclegan")
    assert "kept from its first run" not in info and "kept from its first run" in info_again
    assert Image.open(first).tobytes() == Image.open(again).tobytes() and "bundled copy" in info_again
    *_, other_way = client.predict(handle_file(str(example)), "b2a", "cyclegan-noto2twemoji", api_name="/cyclegan")
    assert "kept from its first run" not in other_way
    own = Image.open(example).convert("RGB")
    own.putpixel((0, 0), (0, 0, 0))
    own.save(tmp_path / "own.png")
    for _ in range(2):
        *_, info_own = client.predict(handle_file(str(tmp_path / "own.png")), "a2b", "cyclegan-noto2twemoji",
                                      api_name="/cyclegan")
        assert "kept from its first run" not in info_own


def test_the_example_cache_never_keeps_a_random_draw_and_is_bounded(tmp_path):
    import app

    examples = app.ExampleResults(keep=2)
    files = sorted(p for p in app.EXAMPLES.rglob("*.png"))[:3]
    key = lambda image, options, text=None: examples.key("m", image, "a2b", options, True, text)  # noqa: E731
    assert key(str(files[0]), {"seed": None, "sample": True}) is None  # a seed left empty: a new draw
    assert key(str(files[0]), {"style": None}) is None  # MUNIT with no style: a random one each time
    assert key(str(files[0]), {"seed": 3}) is not None and key(str(files[0]), {"style": [0.5, -1.0]}) is not None
    assert key(None, {"references": [str(f) for f in files]}, "Hi") is not None
    user = tmp_path / "user.png"
    user.write_bytes(files[0].read_bytes() + b"\0")
    assert key(str(user), {}) is None and key(None, {"references": [str(files[0]), str(user)]}, "Hi") is None
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (app.ExampleResults.MAX_BYTES + 1))
    assert key(str(big), {}) is None  # a large upload is not an example: never kept
    assert key({"composite": b"png bytes"}, {}) is None
    # a typed word is a word, even one that names a file: never opened
    assert key(None, {"references": [str(files[0])]}, "/proc/self/pagemap")[-1] == "/proc/self/pagemap"

    class Model:  # stands for a Translator: results are kept per translator object, not per name
        pass
    t, reloaded = Model(), Model()
    keys = [key(str(f), {}) for f in files]
    for n, k in enumerate(keys):
        examples.put(k, t, n)
    assert [examples.get(k, t) for k in keys] == [None, 1, 2] and examples.hits == 2
    assert examples.get(keys[2], reloaded) is None  # the same name loaded again: computed anew

    tiny = app.ExampleResults(max_mb=1.5 * 256 * 256 * 3 / 2 ** 20)
    from PIL import Image as PILImage
    for k in keys:
        tiny.put(k, t, PILImage.new("RGB", (256, 256)))
    assert [tiny.get(k, t) is not None for k in keys] == [False, False, True]  # bounded by pixels too


def test_a_model_of_another_family_is_a_message(client):
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    with pytest.raises(Exception, match="is a pix2pix model.*needs cyclegan"):
        client.predict(handle_file(str(example)), "a2b", "pix2pix-sketch2emoji", api_name="/cyclegan")
    with pytest.raises(Exception, match="is a CycleGAN model.*needs pix2pix"):
        client.predict(handle_file(str(example)), "cyclegan-noto2twemoji", api_name="/pix2pix")


def test_server_folders_are_refused_unless_the_app_allows_them(client, tmp_path):
    from conftest import export, tiny_cyclegan

    folder = export(tiny_cyclegan(), tmp_path / "tiny")
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    with pytest.raises(Exception, match="is not a shipped model") as err:
        client.predict(handle_file(str(example)), "a2b", str(folder), api_name="/cyclegan")
    assert "local folder" not in str(err.value)  # the public app does not even offer it


def test_bad_input_is_a_message_not_a_trace(client, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(Exception, match="damaged or truncated") as err:
        client.predict(handle_file(str(broken)), "a2b", "cyclegan-noto2twemoji", api_name="/cyclegan")
    assert "Traceback" not in str(err.value)


def test_rgba_upload_is_composited_on_white(client, emoji_like, tmp_path):
    emoji_like.save(tmp_path / "rgba.png")
    translation, *_ = client.predict(handle_file(str(tmp_path / "rgba.png")), "b2a", "cyclegan-noto2twemoji",
                                       api_name="/cyclegan")
    assert Image.open(translation).size == (256, 192)


def test_unknown_model_is_a_message(client):
    example = sorted((ROOT / "assets/examples/cyclegan").glob("*.png"))[0]
    with pytest.raises(Exception, match="No model repository|Cannot reach|not a shipped model"):
        client.predict(handle_file(str(example)), "a2b", "nobody/nothing", api_name="/cyclegan")


def draw_smiley(path, size=(640, 480)):
    """What a sketchpad sends: black mouse strokes on a transparent layer of any canvas size."""
    from PIL import ImageDraw

    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(canvas)
    d.ellipse((200, 120, 440, 360), outline=(0, 0, 0, 255), width=9)
    d.line([(270, 200), (272, 230)], fill=(0, 0, 0, 255), width=12)
    d.line([(368, 200), (370, 230)], fill=(0, 0, 0, 255), width=12)
    d.arc((260, 220, 380, 320), 20, 160, fill=(0, 0, 0, 255), width=9)
    canvas.save(path)
    return path


def colourful_share(image: Image.Image) -> float:
    """Share of pixels with a clear hue (max - min channel > 60): not white, grey or black."""
    import numpy as np

    a = np.asarray(image.convert("RGB")).astype(int)
    return float(((a.max(axis=2) - a.min(axis=2)) > 60).mean())


needs_pix2pix = pytest.mark.skipif("pix2pix-sketch2emoji" not in translator.list_models(),
                                   reason="the pix2pix model is not shipped (no tab)")


@needs_pix2pix
def test_pix2pix_turns_a_drawn_smiley_into_a_colour_emoji(client, tmp_path):
    assert "/pix2pix_drawing" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    smiley = draw_smiley(tmp_path / "smiley.png")
    sketch = {"background": None, "layers": [], "composite": handle_file(str(smiley))}
    emoji, _, info = client.predict(sketch, "pix2pix-sketch2emoji", api_name="/pix2pix_drawing")
    emoji = Image.open(emoji)
    assert emoji.mode == "RGB" and emoji.width == emoji.height >= 256  # a square emoji at display size
    assert colourful_share(emoji) > 0.15  # a coloured face, not a grey copy of the lines
    assert " ms** on cpu" in info


@needs_pix2pix
def test_pix2pix_empty_drawing_is_a_message(client, tmp_path):
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)).save(tmp_path / "blank.png")
    sketch = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "blank.png"))}
    with pytest.raises(Exception, match="empty"):
        client.predict(sketch, "pix2pix-sketch2emoji", api_name="/pix2pix_drawing")


@needs_pix2pix
def test_pix2pix_upload_endpoint(client):
    drawing = ROOT / "assets/examples/pix2pix/drawing-1f601.png"
    emoji, *_ = client.predict(handle_file(str(drawing)), "pix2pix-sketch2emoji", api_name="/pix2pix")
    emoji = Image.open(emoji)
    assert emoji.width == emoji.height >= 256


def test_option_controls_reach_translate(tmp_path):
    """The toy family takes every option. Its tab: style sliders (the style used), a seed and a reference
    image that set the sliders, a sample switch and a reference gallery; each reaches `translate`."""
    from conftest import export
    from test_contract import tiny

    folder = export(tiny("toy"), tmp_path / "toy")
    with app_client({"toy": str(folder)}) as client:
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert [p["parameter_name"] for p in endpoints["/toy"]["parameters"]] == [
            "image", "direction", "model", "sample", "style_1", "style_2", "style_3", "style_4", "references", "finish"]
        image = tmp_path / "in.png"
        Image.new("RGB", (40, 30), (120, 60, 200)).save(image)
        model = str(folder)
        random = client.predict(seed=5, model=model, api_name="/toy_random_style")
        assert len(random) == 4 and random == client.predict(seed=5, model=model, api_name="/toy_random_style")
        # the seed box's own value (-1: the browser cannot send an empty number box) draws anew each time
        draws = {tuple(client.predict(seed=-1, model=model, api_name="/toy_random_style")) for _ in range(3)}
        assert len(draws) == 3, "-1 in the seed box is a new random style each click, not one fixed seed"
        style = dict(zip(["style_1", "style_2", "style_3", "style_4"], random))
        common = dict(image=handle_file(str(image)), direction="a2b", model=model, api_name="/toy")
        first = Image.open(client.predict(**style, **common)[0])
        assert first.size == (256, 192)
        assert first.tobytes() == Image.open(client.predict(**style, **common)[0]).tobytes()  # the same style, again
        other = dict(zip(style, client.predict(seed=6, model=model, api_name="/toy_random_style")))
        assert Image.open(client.predict(**other, **common)[0]).tobytes() != first.tobytes()
        encoded = client.predict(reference=handle_file(str(image)), model=model, api_name="/toy_style_of")
        assert len(encoded) == 4 and all(isinstance(v, float) and v == round(v, 2) for v in encoded)  # hundredths
        gallery = [{"image": handle_file(str(image)), "caption": None}] * 3
        assert Image.open(client.predict(references=gallery, **style, **common)[0]).mode == "RGB"
        with pytest.raises(Exception, match="references takes 1 to 20"):
            client.predict(references=[{"image": handle_file(str(image)), "caption": None}] * 21, **style, **common)


@needs_pix2pix
def test_sketchpad_uploads_pass_the_cores_checks(client, tmp_path):
    """The sketchpad's file reaches the core undecoded: a decompression bomb is refused from its header."""
    Image.new("1", (15000, 15000)).save(tmp_path / "bomb.png")  # 225 megapixels in a small file
    sketch = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "bomb.png"))}
    with pytest.raises(Exception, match="too large|pixel limit") as err:
        client.predict(sketch, "pix2pix-sketch2emoji", api_name="/pix2pix_drawing")
    assert "Traceback" not in str(err.value)


def test_identical_results_requested_at_once_all_arrive_whole(client):
    """Many people asking for the same result at once (the same example): Gradio used to rewrite one
    content-addressed file while others were downloading it, so some downloads came back truncated."""
    from concurrent.futures import ThreadPoolExecutor

    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    url = client.src

    def ask(_):
        from gradio_client import Client
        c = Client(url, verbose=False, analytics_enabled=False)
        translation, reconstruction, *_ = c.predict(image=handle_file(str(example)), api_name="/cyclegan")
        return Image.open(translation).tobytes(), Image.open(reconstruction).size

    with ThreadPoolExecutor(16) as pool:  # without the fix about one run in two broke a download
        results = list(pool.map(ask, range(40)))
    assert len({r[0] for r in results}) == 1 and all(r[1] == (256, 256) for r in results)


def test_a_compare_tab_for_every_domain_pair_with_several_models(tmp_path):
    """Built from the registry: two-way models of the same two domains share a Compare tab."""
    import app
    from conftest import export
    from test_contract import tiny

    cyclegan, unit = export(tiny("cyclegan"), tmp_path / "c"), export(tiny("unit"), tmp_path / "u")
    ugatit = export(tiny("ugatit"), tmp_path / "g")
    with app_client({"cyclegan": str(cyclegan), "unit": str(unit), "ugatit": str(ugatit)}) as c:
        image = tmp_path / "in.png"
        Image.new("RGB", (40, 30), (250, 200, 40)).save(image)
        *outputs, info = c.predict(image=handle_file(str(image)), direction="b2a", api_name="/compare")
        assert len(outputs) == 3 and all(Image.open(o).size == (256, 192) for o in outputs)
        assert "CycleGAN" in info and "UNIT" in info and "U-GAT-IT" in info and " ms" in info
    assert not app.comparable_groups({"cyclegan": "cyclegan-noto2twemoji", "pix2pix": "pix2pix-sketch2emoji"})


def test_a_family_without_examples_of_its_own_shares_those_of_its_domains(tmp_path):
    for path in ["cyclegan/noto-1.png", "cyclegan/twemoji-2.png", "pix2pix/drawing-3.png", "unit/noto-4.png"]:
        (tmp_path / path).parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / path)
    names = lambda family, domains: [p.name for p in translator.hub.example_images(family, domains, tmp_path)]  # noqa: E731
    assert names("unit", ("noto", "twemoji")) == ["noto-4.png"]  # its own folder first
    assert names("ugatit", ("noto", "twemoji")) == ["noto-1.png", "noto-4.png", "twemoji-2.png"]
    assert names("munit", ("outline", "emoji")) == []
    (tmp_path / "munit" / "styles").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "munit" / "styles" / "emoji-5.png")
    assert names("munit", ("outline", "emoji")) == []  # a style reference is not an input example
    styles = lambda domains: [p.name for p in translator.hub.example_style_references("munit", domains, tmp_path)]  # noqa: E731
    assert styles(("outline", "emoji")) == ["emoji-5.png"]
    # a folder that says which domains it is for serves only models of those domains; others share by domain
    Image.new("RGB", (8, 8)).save(tmp_path / "munit" / "outline-6.png")
    (tmp_path / "munit" / "examples.json").write_text('{"domains": ["outline", "emoji"]}')
    assert names("munit", ("emoji", "outline")) == ["outline-6.png"] and styles(("emoji", "outline")) == ["emoji-5.png"]
    assert names("munit", ("noto", "twemoji")) == ["noto-1.png", "noto-4.png", "twemoji-2.png"]
    assert styles(("noto", "twemoji")) == []


def test_the_fewshot_tab_writes_a_typed_word_in_the_style_of_dropped_glyphs(tmp_path):
    """FUNIT's tab from its declaration: a gallery of 1-20 references and a word box (the image optional)."""
    from conftest import export
    from test_contract import tiny
    from translator.funit import render_glyph

    folder = export(tiny("funit"), tmp_path / "funit")
    with app_client({"funit": str(folder)}) as client:
        names = [p["parameter_name"] for p in
                 client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/funit"]["parameters"]]
        assert names == ["image", "model", "references", "text", "finish"]
        glyphs = []
        for char in "Rag":
            render_glyph(char, None, 64).save(tmp_path / f"{char}.png")
            glyphs.append({"image": handle_file(str(tmp_path / f"{char}.png")), "caption": None})
        line, summary, _, info = client.predict(image=None, model=str(folder), references=glyphs, text="Hello",
                                                api_name="/funit")
        line = Image.open(line)
        assert line.width > 2 * line.height and "K = 3" in summary and " ms" in info
        with pytest.raises(Exception, match="or type a word"):
            client.predict(image=None, model=str(folder), references=glyphs, text="  ", api_name="/funit")
        with pytest.raises(Exception, match="references takes 1 to 20"):
            client.predict(image=None, model=str(folder), references=glyphs * 7, text="Hi", api_name="/funit")


def test_a_style_family_offers_a_grid_and_an_interpolation_strip(tmp_path):
    """MUNIT's tab: N random styles of one input, and a strip from the sliders' style to a random one."""
    from conftest import export
    from test_contract import tiny

    folder = export(tiny("munit"), tmp_path / "munit")
    with app_client({"munit": str(folder)}) as client:
        image = tmp_path / "in.png"
        Image.new("RGB", (40, 30), (250, 200, 40)).save(image)
        model = str(folder)
        grid = client.predict(image=handle_file(str(image)), n=5, seed=3, model=model, direction="a2b",
                              api_name="/munit_grid")
        assert len(grid) == 5 and len({Image.open(g["image"]).tobytes() for g in grid}) == 5
        again = client.predict(image=handle_file(str(image)), n=5, seed=3, model=model, direction="a2b",
                               api_name="/munit_grid")
        assert [Image.open(g["image"]).tobytes() for g in again] == [Image.open(g["image"]).tobytes() for g in grid]
        strip = client.predict(image=handle_file(str(image)), steps=4, seed=1, model=model, direction="a2b",
                               style_1=0.5, style_2=-0.5, style_3=0.0, api_name="/munit_interpolate")
        assert len(strip) == 4
        with pytest.raises(Exception, match="Add an image first"):
            client.predict(image=None, n=3, seed=1, model=model, direction="a2b", api_name="/munit_grid")


def test_a_style_family_whose_domain_a_is_drawn_gets_a_sketchpad_for_it(tmp_path):
    """MUNIT trained on drawings (input_kind "sketch"): a drawing endpoint that always goes a2b as a drawing
    (cut to what was drawn), whatever the radio says; the grid and strip take the sketch or the upload; the
    upload goes the way the radio says, as an image."""
    from conftest import export
    from PIL import ImageDraw
    from test_contract import tiny

    folder = export(tiny("munit", input_kind="sketch"), tmp_path / "munit-sketch")
    drawing = tmp_path / "drawing.png"
    canvas = Image.new("RGBA", (500, 400), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).ellipse([300, 40, 420, 160], outline=(0, 0, 0, 255), width=4)
    canvas.save(drawing)
    colour = tmp_path / "colour.png"
    Image.new("RGB", (40, 30), (250, 200, 40)).save(colour)
    style = {"style_1": 0.5, "style_2": -0.5, "style_3": 0.0}
    t = translator.load(str(folder), "munit", allow_local=True, finishing=True)  # as the app loads it
    rgb = lambda path: Image.open(path).convert("RGB").tobytes()  # noqa: E731
    with translator.raw_output():  # the app's finish=False
        as_drawing = t.translate(drawing, "a2b", style=[0.5, -0.5, 0.0]).convert("RGB").tobytes()
        colour_b2a = t.translate(colour, "b2a", style=[0.5, -0.5, 0.0]).convert("RGB").tobytes()
    assert as_drawing != t.translate(canvas.convert("RGB"), "b2a", style=[0.5, -0.5, 0.0]).convert("RGB").tobytes()
    with app_client({"munit": str(folder)}) as client:
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert "/munit_drawing" in endpoints
        assert [p["parameter_name"] for p in endpoints["/munit_grid"]["parameters"]][:2] == ["image", "sketch"]
        sketch = {"background": None, "layers": [], "composite": handle_file(str(drawing))}
        for radio in ("b2a", "a2b"):  # a drawing goes a2b, as a drawing, whatever the radio says
            result = client.predict(sketch, direction=radio, model=str(folder), finish=False, **style,
                                    api_name="/munit_drawing")
            assert rgb(result[0]) == as_drawing
        uploaded = client.predict(handle_file(str(colour)), direction="b2a", model=str(folder), finish=False, **style,
                                  api_name="/munit")
        assert rgb(uploaded[0]) == colour_b2a, "the upload goes the way the radio says, as an image"
        grid = client.predict(sketch=sketch, n=3, seed=2, model=str(folder), direction="b2a", api_name="/munit_grid")
        expected = t.samples(drawing, "a2b", n=3, seed=2).images
        assert [rgb(g["image"]) for g in grid] == [e.convert("RGB").tobytes() for e in expected]
        from_upload = client.predict(image=handle_file(str(colour)), n=2, seed=2, model=str(folder), direction="b2a",
                                     api_name="/munit_grid")
        expected = t.samples(colour, "b2a", n=2, seed=2).images
        assert [rgb(g["image"]) for g in from_upload] == [e.convert("RGB").tobytes() for e in expected]
        with pytest.raises(Exception, match="Add an image first"):
            client.predict(n=3, seed=1, model=str(folder), direction="a2b", api_name="/munit_grid")


def test_the_app_limits_glibc_heap_arenas_unless_told_otherwise(monkeypatch):
    """Worker threads each with their own malloc arena grew the app by a third under load (README, probe)."""
    import platform
    import sys

    import app

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    if "MALLOC_ARENA_MAX" not in os.environ:
        assert app.MALLOC_ARENAS_LIMITED is True  # done at import, before any worker thread
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert app.limit_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert app.limit_malloc_arenas() is False
