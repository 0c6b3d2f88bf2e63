"""Container headers read without decoding: what Pillow writes, these read back."""

import io

import numpy as np
from PIL import Image

from ganstyle.io.image_headers import gif_sizes, ico_sizes, tiff_compression


def _saved(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **kwargs)
    return buffer.getvalue()


def test_ico_sizes_are_read_from_each_embedded_image():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA")
    sizes = ico_sizes(_saved(image, format="ICO", sizes=[(16, 16), (48, 48)]))
    assert (16, 16) in sizes and (48, 48) in sizes and max(sizes) == (48, 48)


def test_gif_sizes_hold_the_canvas_and_every_frame():
    frames = [Image.new("L", (20, 10), c) for c in (0, 128, 255)]
    data = _saved(frames[0], format="GIF", save_all=True, append_images=frames[1:])
    sizes = gif_sizes(data)
    assert sizes[0] == (20, 10) and len(sizes) >= 2 and all(s == (20, 10) for s in sizes)


def test_tiff_compression_tag():
    image = Image.new("L", (8, 8), 100)
    assert tiff_compression(_saved(image, format="TIFF")) == 1
    assert tiff_compression(_saved(image, format="TIFF", compression="tiff_lzw")) == 5
