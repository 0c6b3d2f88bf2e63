"""Decoding and normalising single images (ganstyle.io.images)."""

import io
import os
import struct

import numpy as np
import pytest
from hostile_images import gif_with_huge_second_frame, ico_wrapping, png_claiming, png_of_zeros, tiff
from PIL import Image, ImageOps, features

from ganstyle.io.images import (
    REASONS,
    Rejected,
    background_value,
    centre_crop,
    decode_image,
    image_grid,
    leaves_folder,
    normalise,
    pad,
    random_patches,
    read_source,
    sniff_format,
)

LIMIT = 10_000_000


def texture(seed: int, size=(64, 48)) -> Image.Image:
    """A smooth random RGB picture: distinct per seed, stable under resizing."""
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def decode(data: bytes, channels=3, **kwargs):
    kwargs.setdefault("max_pixels", LIMIT)
    return decode_image(data, channels=channels, **kwargs)


def rejected(data: bytes, **kwargs) -> Rejected:
    with pytest.raises(Rejected) as info:
        decode(data, **kwargs)
    return info.value


# --- modes ------------------------------------------------------------------------


def test_rgb_png_round_trips_exactly_and_grey_is_pillow_luma():
    image = texture(1)
    colour = decode(encode(image, "PNG"), channels=3)
    grey = decode(encode(image, "PNG"), channels=1)
    assert colour.pixels.shape == (48, 64, 3) and colour.pixels.dtype == np.uint8
    np.testing.assert_array_equal(colour.pixels, np.asarray(image))
    np.testing.assert_array_equal(grey.pixels[..., 0], np.asarray(image.convert("L")))
    assert (colour.format, colour.mode, colour.frames, colour.orientation, colour.icc) == ("PNG", "RGB", 1, 1, "none")


def test_palette_image_keeps_its_colours():
    image = texture(2).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    decoded = decode(encode(image, "PNG"))
    assert decoded.mode == "P"
    np.testing.assert_array_equal(decoded.pixels, np.asarray(image.convert("RGB")))


def test_transparency_is_composited_on_the_background():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 30, 30)
    rgba[:, 20:, 3] = 255  # right half opaque red, left half fully transparent
    rgba[:20, :20, 3] = 0
    rgba[20:, :20, 3] = 128  # bottom-left half transparent
    data = encode(Image.fromarray(rgba, "RGBA"), "PNG")
    on_blue = decode(data, background=(0, 0, 255)).pixels
    assert tuple(on_blue[5, 5]) == (0, 0, 255)
    assert tuple(on_blue[5, 30]) == (200, 30, 30)
    alpha = 128 / 255
    np.testing.assert_allclose(on_blue[30, 5], alpha * np.array([200, 30, 30]) + (1 - alpha) * np.array([0, 0, 255]), atol=1)
    on_white_grey = decode(data, channels=1).pixels
    assert on_white_grey[5, 5, 0] == 255


def test_palette_transparency_and_grey_alpha():
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([10, 20, 30, 250, 0, 0] + [0] * 762)
    palette.paste(1, (0, 0, 20, 40))
    decoded = decode(encode(palette, "PNG", transparency=1), background=(0, 255, 0))
    assert tuple(decoded.pixels[5, 5]) == (0, 255, 0) and tuple(decoded.pixels[5, 30]) == (10, 20, 30)
    la = Image.merge("LA", (Image.new("L", (40, 40), 50), Image.new("L", (40, 40), 0)))
    assert decode(encode(la, "PNG"), channels=1, background=(0, 0, 0)).pixels.max() == 0


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in print colours
    decoded = decode(encode(cmyk, "JPEG", quality=95))
    assert decoded.mode == "CMYK"
    r, g, b = decoded.pixels.reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15 and b < 15


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.asarray(texture(3).convert("L"), dtype=np.uint16) * 257
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    decoded = decode(encode(image, "PNG"), channels=1)
    assert decoded.mode.startswith("I;16")
    np.testing.assert_array_equal(decoded.pixels[..., 0], values // 257)


def test_32_bit_integer_outside_16_bit_range_is_stretched():
    values = np.linspace(-1000, 100_000, 40 * 40).reshape(40, 40).astype(np.int32)
    decoded = decode(encode(Image.fromarray(values, "I"), "TIFF"), channels=1)
    assert decoded.mode == "I" and decoded.pixels.min() == 0 and decoded.pixels.max() == 255


def test_float_images_in_unit_range_are_scaled_others_stretched():
    grey = np.asarray(texture(4).convert("L"))
    unit = Image.fromarray(grey.astype(np.float32) / 255)
    decoded = decode(encode(unit, "TIFF"), channels=1)
    assert decoded.mode == "F"
    np.testing.assert_array_equal(decoded.pixels[..., 0], grey)
    wide = grey.astype(np.float32) * 3 - 100
    wide[0, 0] = np.nan
    stretched = decode(encode(Image.fromarray(wide), "TIFF"), channels=1).pixels[..., 0]
    low, high = np.nanmin(wide), np.nanmax(wide)
    expected = np.rint((wide - low) * 255 / (high - low))
    np.testing.assert_allclose(stretched[1:], expected[1:], atol=1)
    assert stretched[0, 0] == 0


def test_one_bit_image():
    bits = Image.fromarray(np.asarray(texture(5).convert("L")) > 128).convert("1")
    decoded = decode(encode(bits, "PNG"), channels=1)
    assert set(np.unique(decoded.pixels)) <= {0, 255}


def _linear_rgb_icc_profile() -> bytes:
    """A minimal ICC v2 display profile: sRGB primaries, linear (gamma 1) tone curves."""

    def s15(x):
        return struct.pack(">i", round(x * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = b"linear RGB test\0"
    tags = [
        (b"desc", b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", b"curv" + b"\0" * 4 + struct.pack(">I", 0)),
        (b"gTRC", b"curv" + b"\0" * 4 + struct.pack(">I", 0)),
        (b"bTRC", b"curv" + b"\0" * 4 + struct.pack(">I", 0)),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + b"\0" * 12
    header += b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + table + body


def test_embedded_colour_profile_is_converted_to_srgb():
    image = Image.new("RGB", (40, 40), (128, 128, 128))
    converted = decode(encode(image, "PNG", icc_profile=_linear_rgb_icc_profile()))
    assert converted.icc == "converted"
    # linear-light 0.5 is sRGB 0.735
    np.testing.assert_allclose(converted.pixels.reshape(-1, 3).mean(axis=0), 188, atol=2)
    broken = decode(encode(image, "PNG", icc_profile=b"not a profile"))
    assert broken.icc == "invalid" and broken.pixels.max() == 128


def test_exif_orientation_matches_pillows_exif_transpose():
    image = texture(6, size=(48, 32))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = encode(image, "PNG", exif=exif)
        decoded = decode(data)
        expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        assert decoded.orientation == orientation
        np.testing.assert_array_equal(decoded.pixels, np.asarray(expected))
        assert decoded.pixels.shape[:2] == ((48, 32) if orientation >= 5 else (32, 48))


def test_animated_gif_uses_first_frame_and_counts_frames():
    frames = [texture(seed, (40, 40)).convert("P", palette=Image.Palette.ADAPTIVE) for seed in (7, 8, 9)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode(data)
    assert decoded.frames == 3 and decoded.format == "GIF"
    first = Image.open(io.BytesIO(data)).convert("RGB")
    np.testing.assert_array_equal(decoded.pixels, np.asarray(first))


# --- rejections -------------------------------------------------------------------


def test_not_images_are_rejected():
    assert rejected(b"just some text in a file called photo.jpg\n").reason == "not_an_image"
    assert rejected(np.random.default_rng(0).bytes(5000)).reason == "not_an_image"


def test_truncated_png_and_jpeg_are_rejected():
    for fmt in ("PNG", "JPEG"):
        data = encode(texture(10, (80, 80)), fmt)
        assert rejected(data[: len(data) // 2]).reason == "truncated", fmt
    header_only = encode(texture(10), "PNG")[:40]
    assert rejected(header_only).reason in {"truncated", "corrupt"}
    assert sniff_format(header_only) == "PNG"


def test_decompression_bombs_are_rejected_from_the_header(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # our limit must not depend on Pillow's
    assert rejected(png_claiming(100_000, 100_000), max_pixels=50_000_000).reason == "too_many_pixels"
    assert rejected(encode(texture(11, (120, 100)), "PNG"), max_pixels=10_000).reason == "too_many_pixels"
    assert Image.MAX_IMAGE_PIXELS is None  # restored
    # a limit above Pillow's default is honoured too
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert decode(encode(texture(11, (120, 100)), "PNG"), max_pixels=10**12).pixels.shape == (100, 120, 3)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_an_ico_that_also_parses_as_tga_is_read_as_ico():
    # noise in 2 x 2 blocks: an 83 KB icon whose header Pillow's TGA plugin accepts as 32 x 17740
    rng = np.random.default_rng(0)
    noise = np.repeat(np.repeat((rng.random((128, 128, 4)) * 255).astype(np.uint8), 2, 0), 2, 1)
    data = encode(Image.fromarray(noise, "RGBA"), "ICO", sizes=[(256, 256)])
    assert Image.open(io.BytesIO(data), formats=["TGA"]).size != (256, 256)  # the trap is real
    decoded = decode(data)
    assert decoded.format == "ICO" and decoded.pixels.shape == (256, 256, 3)


def test_container_headers_are_read_for_every_sub_image():
    from ganstyle.io.images import gif_sizes, ico_sizes

    assert (15000, 15000) in ico_sizes(ico_wrapping(png_claiming(15000, 15000)))
    assert gif_sizes(gif_with_huge_second_frame(15000)) == [(16, 16), (16, 16), (15000, 15000)]
    three = [texture(seed, (40, 40)).convert("P", palette=Image.Palette.ADAPTIVE) for seed in (1, 2, 3)]
    assert gif_sizes(encode(three[0], "GIF", save_all=True, append_images=three[1:])) == [(40, 40)] * 4
    small = tiff([(32, 32), (40, 40)])
    assert decode(small, channels=1).frames == 2


@pytest.mark.parametrize(
    "name, data",
    [
        ("ico wrapping a 15000 x 15000 png", lambda: ico_wrapping(png_of_zeros(15000, 15000))),
        ("gif whose second frame is 15000 x 15000", lambda: gif_with_huge_second_frame(15000)),
        ("tiff whose second page is 15000 x 15000", lambda: tiff([(32, 32), (15000, 15000)])),
    ],
)
def test_bombs_inside_containers_are_rejected_before_decoding(tmp_path, name, data):
    """Peak memory of a fresh process stays far below the 225 MB one such frame decodes to."""
    import subprocess
    import sys

    path = tmp_path / "bomb"
    path.write_bytes(data())
    probe = (
        "import resource, sys\n"
        "from ganstyle.io.images import Rejected, decode_image\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    decode_image(data, channels=1, max_pixels=50_000_000)\n"
        "    print('decoded', 0)\n"
        "except Rejected as err:\n"
        "    print(err.reason, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
    reason, grown_kb = result.stdout.split()
    assert reason == "too_many_pixels", name
    assert int(grown_kb) < 30_000, f"{name}: peak memory grew by {int(grown_kb) // 1024} MB"


def _libtiff_decodes_webp() -> bool:
    try:
        Image.open(io.BytesIO(encode(texture(22), "TIFF", compression="webp"))).load()
    except OSError:
        return False
    return True


def test_known_formats_with_codecs_pillow_lacks_are_unsupported_not_corrupt():
    bmp = bytearray(encode(texture(21), "BMP"))
    bmp[30:34] = struct.pack("<I", 4)  # BI_JPEG inside a BMP
    assert rejected(bytes(bmp)).reason == "unsupported_codec"
    data = bytearray(tiff([(32, 32)]))
    entry = data.index(struct.pack("<HHI", 259, 3, 1))
    # JPEG 2000 and a private code are unknown to Pillow; WebP in TIFF is known, but needs a libtiff built with it
    webp = () if features.check_codec("libtiff") and _libtiff_decodes_webp() else ((50001, "50001 (webp)"),)
    for code, words in ((34712, "34712"), (65000, "unknown to Pillow"), *webp):
        data[entry + 8 : entry + 10] = struct.pack("<H", code)
        error = rejected(bytes(data))
        assert error.reason == "unsupported_codec" and words in error.detail
    data[entry + 8 : entry + 10] = struct.pack("<H", 1)
    assert decode(bytes(data), channels=1).pixels.shape == (32, 32, 1)


def test_too_small_images_are_rejected():
    error = rejected(encode(texture(12, (10, 40)), "PNG"), min_side=32)
    assert error.reason == "too_small" and "10 x 40" in error.detail


def test_reasons_are_documented():
    for reason in ("empty", "truncated", "not_an_image", "too_many_pixels", "too_small", "outside_folder", "duplicate", "near_duplicate", "leaked"):
        assert reason in REASONS


# --- reading files ------------------------------------------------------------------


def test_read_source_rejects_empty_links_out_pipes_and_broken_links(tmp_path):
    folder, outside = tmp_path / "culture", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(encode(texture(13), "PNG"))
    (folder / "good.png").write_bytes(encode(texture(13), "PNG"))
    (folder / "empty.png").write_bytes(b"")
    (folder / "out.png").symlink_to(outside / "secret.png")
    (folder / "in.png").symlink_to(folder / "good.png")
    (folder / "broken.png").symlink_to(folder / "nothing.png")
    os.mkfifo(folder / "pipe.png")
    assert read_source(folder / "good.png", folder)[:4] == b"\x89PNG"
    assert read_source(folder / "in.png", folder)[:4] == b"\x89PNG"
    # a file listed explicitly from elsewhere (metadata table) is not a link out
    assert read_source(outside / "secret.png", folder)[:4] == b"\x89PNG"
    for name, reason in [("empty.png", "empty"), ("out.png", "outside_folder"), ("broken.png", "unreadable"), ("pipe.png", "not_a_file")]:
        with pytest.raises(Rejected) as info:
            read_source(folder / name, folder)
        assert info.value.reason == reason, name
    assert leaves_folder(folder / "out.png", folder) and not leaves_folder(folder / "in.png", folder)


# --- normalising --------------------------------------------------------------------


def test_centre_crop_keeps_the_middle_square():
    wide = np.zeros((40, 120, 1), dtype=np.uint8)
    wide[:, 40:80] = 255  # the middle square is white, the sides black
    cropped = centre_crop(wide, 32)
    assert cropped.shape == (32, 32, 1) and cropped.min() == 255


def test_pad_keeps_everything_on_the_background():
    wide = np.zeros((40, 120, 3), dtype=np.uint8)
    padded = pad(wide, 60, background=(10, 20, 30))
    assert padded.shape == (60, 60, 3)
    assert tuple(padded[0, 30]) == (10, 20, 30) and tuple(padded[-1, 30]) == (10, 20, 30)
    assert padded[30].max() == 0  # the image fills the middle rows, full width
    assert background_value((10, 20, 30), 1) == (Image.new("RGB", (1, 1), (10, 20, 30)).convert("L").getpixel((0, 0)),)
    assert pad(wide[..., :1], 60, background=(255, 255, 255))[0, 0, 0] == 255


def test_random_patches_are_native_scale_windows_and_seeded():
    pixels = np.asarray(texture(14, (100, 80)))
    patches, corners = random_patches(pixels, 32, 5, np.random.default_rng(1))
    assert patches.shape == (5, 32, 32, 3)
    for patch, (x, y) in zip(patches, corners):
        np.testing.assert_array_equal(patch, pixels[y : y + 32, x : x + 32])
    again = normalise(pixels, 32, "patches", patches_per_image=5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(again, patches)
    with pytest.raises(ValueError):
        random_patches(pixels, 128, 1, np.random.default_rng(0))
    with pytest.raises(ValueError):
        normalise(pixels, 32, "stretch")


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
@pytest.mark.parametrize("policy", ["crop", "pad"])
def test_every_resolution_and_policy_gives_the_right_shape(resolution, policy):
    pixels = np.asarray(texture(15, (150, 90)).convert("L"))[..., None]
    assert normalise(pixels, resolution, policy).shape == (1, resolution, resolution, 1)


def test_image_grid_places_images_row_by_row():
    images = np.stack([np.full((2, 3, 1), i, np.uint8) for i in range(5)])
    grid = image_grid(images, columns=2, gap=1, fill=99)
    assert grid.shape == (3 * 2 + 2, 2 * 3 + 1, 1)
    assert grid[0, 0, 0] == 0 and grid[0, 4, 0] == 1 and grid[3, 0, 0] == 2 and grid[6, 0, 0] == 4
    assert grid[2, 0, 0] == 99 and grid[6, 4, 0] == 99  # gap, and the empty sixth cell
    blank = image_grid(images[:0], columns=3, gap=1, fill=7)  # a figure panel with nothing to show stays in place
    assert blank.shape == (2, 3 * 3 + 2, 1) and (blank == 7).all()
