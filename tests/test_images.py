"""Any input a user can throw at the app either works or fails with a clear ImageError."""
import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from translator import images
from translator.images import ImageError, load_image


def png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def test_rgba_is_composited_on_white(emoji_like):
    rgb = load_image(emoji_like)
    assert rgb.mode == "RGB" and rgb.size == (120, 90)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)  # transparent corner -> white, not black
    assert rgb.getpixel((60, 45)) == (250, 200, 40)


@pytest.mark.parametrize("mode", ["L", "1", "CMYK", "YCbCr", "LA", "I", "F", "HSV"])
def test_modes_become_rgb(mode):
    image = Image.new("RGB", (20, 10), (10, 120, 240)).convert(mode) if mode != "HSV" else Image.new("HSV", (20, 10))
    out = load_image(image)
    assert out.mode == "RGB" and out.size == (20, 10)


def test_palette_with_transparency_goes_to_white():
    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.info["transparency"] = 0
    assert load_image(png_bytes(p, transparency=0)).getpixel((3, 3)) == (255, 255, 255)


def test_16_bit_grey_keeps_its_range():
    a = np.full((6, 6), 65535, dtype=np.uint16)
    a[0, 0] = 0
    image = Image.fromarray(a)  # mode I;16
    out = load_image(png_bytes(image))
    assert out.getpixel((3, 3)) == (255, 255, 255) and out.getpixel((0, 0)) == (0, 0, 0)


def test_exif_rotation_is_applied():
    image = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert load_image(buffer.getvalue()).size == (20, 40)


@pytest.mark.parametrize("array", [
    np.zeros((10, 12, 3), np.uint8), np.zeros((10, 12), np.uint8), np.ones((10, 12, 4), np.float32) * 0.5,
    np.zeros((10, 12, 1), np.uint16), np.zeros((10, 12), bool)])
def test_arrays(array):
    assert load_image(array).size == (12, 10)


def test_bad_array_shape():
    with pytest.raises(ImageError, match="HxW"):
        load_image(np.zeros((3, 10, 12, 2)))


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, I am text")
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(path)


def test_only_the_formats_people_upload_are_opened(tmp_path):
    import io

    eps = io.BytesIO()
    Image.new("RGB", (8, 8)).save(eps, "EPS")  # Pillow would hand EPS to Ghostscript
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(eps.getvalue())
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"):
        data = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(data, fmt)
        assert load_image(data.getvalue()).size == (8, 8)


@pytest.mark.parametrize("size", [(40000, 1), (2000, 50), (50, 2000)])
def test_strips_are_refused_from_the_header(size):
    import io

    data = io.BytesIO()
    Image.new("1", size).save(data, "PNG")
    with pytest.raises(ImageError, match="strip rather than a picture"):
        load_image(data.getvalue())


def test_truncated_png():
    data = png_bytes(Image.effect_noise((64, 64), 40))
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="No such file"):
        load_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused_before_decoding():
    # a valid PNG header claiming 50000 x 50000 pixels, with almost no data behind it
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    with pytest.raises(ImageError, match="larger than|too large"):
        load_image(bomb)


def test_huge_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.png"
    path.write_bytes(png_bytes(Image.effect_noise((100, 100), 50)))
    with pytest.raises(ImageError, match="limit"):
        load_image(path)


def test_wrong_type():
    with pytest.raises(ImageError, match="Expected an image"):
        load_image(42)


def test_letterbox_keeps_aspect_and_undoes_cleanly():
    image = Image.new("RGB", (300, 100), (255, 0, 0))
    tensor, layout = images.to_model_input(image, 64)
    assert tensor.shape == (1, 3, 64, 64) and -1 <= tensor.min() and tensor.max() <= 1
    assert layout.box == (0, 21, 64, 42)
    assert tensor[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]  # padding is white
    assert tensor[0, :, 32, 32].tolist() == [1.0, -1.0, -1.0]  # the image is red
    out = images.from_model_output(tensor, layout)
    assert out.size == (300, 100)  # original size within the display range
    assert out.getpixel((150, 50)) == (255, 0, 0)


@pytest.mark.parametrize("size, display", [((20, 10), (256, 128)), ((4000, 2000), (1024, 512)), ((500, 600), (500, 600))])
def test_display_size(size, display):
    _, layout = images.to_model_input(Image.new("RGB", size), 32)
    assert layout.display_size == display


def test_tensor_round_trip_is_exact():
    a = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    t = images.pil_to_tensor(Image.fromarray(a))
    assert np.array_equal(np.asarray(images.tensor_to_pil(t)), a)
    assert images.tensor_to_pil(torch.full((1, 3, 2, 2), 5.0)).getpixel((0, 0)) == (255, 255, 255)  # clamped
