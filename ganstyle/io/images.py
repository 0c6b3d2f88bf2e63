"""Decoding and normalising one image.

``read_source`` is the only function here that touches the file system (it
reads bytes, never writes); everything else takes bytes or arrays.  Problems
with one file raise ``Rejected(reason, detail)``; ``REASONS`` lists the codes.

Decoding, in order: only well-known raster formats are opened (no EPS, which
would start Ghostscript), the one the file's signature announces first and
signature-less ones (TGA) last; the pixel count of every frame or sub-image is
checked against an explicit limit before any pixel is decoded (ICO and GIF from
our own reading of their headers, since Pillow decodes an ICO's largest image
while opening it); the first frame of animated files is used; EXIF
orientation is applied; an embedded ICC profile is converted to sRGB; modes
are brought to 8-bit grey or RGB (16-bit integer data scaled by 1/257, float
data in [0, 1] scaled by 255, other float or 32-bit data stretched from its
minimum to its maximum); transparency is composited on the background colour.

``image_grid`` tiles many images into one (the GAN stages' sample sheets).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, TiffImagePlugin, UnidentifiedImageError

from ganstyle.io.image_headers import gif_sizes, ico_sizes, tiff_compression

REASONS = {
    "empty": "the file has zero bytes",
    "unreadable": "the file cannot be read (missing, broken link, permission)",
    "not_a_file": "not a regular file (a pipe, device or socket)",
    "outside_folder": "a symbolic link that leads out of the culture's folder",
    "not_an_image": "not an image in a supported format",
    "truncated": "the image data ends early",
    "corrupt": "the image data cannot be decoded",
    "unsupported_codec": "a known format, but its compression or variant is not compiled into this Pillow (e.g. WebP inside TIFF)",
    "unsupported_mode": "the image's pixel mode cannot be converted",
    "too_many_pixels": "width x height above ingest.max_pixels (decompression-bomb guard)",
    "too_small": "shorter side below ingest.min_side (or below ingest.resolution for patches)",
    "low_information": "the training image (after ingest.resize) is nearly one flat value: grey-level std below ingest.min_std",
    "duplicate": "same pixels as a kept image of the same culture",
    "near_duplicate": "perceptual hash within ingest.near_duplicate_bits of a kept image of the same culture, and pixels "
    "within ingest.near_duplicate_difference of it",
    "leaked": "also occurs (exactly or nearly) in another culture; dropped from both",
}

# Formats Pillow may open.  A closed list: Pillow's EPS plugin runs Ghostscript,
# and exotic plugins are a large attack surface for files from anywhere.  Formats
# without a signature (DIB, TGA) come last: TGA accepts almost any bytes, and an
# ICO tried after it was misread as a 32 x 19140 TGA and rejected as corrupt.
ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "TIFF", "BMP", "WEBP", "JPEG2000", "PPM", "ICO", "AVIF", "DIB", "TGA")

# Signatures of the allowed formats, to try the announced one first and to tell a
# damaged (or unsupported) image from a non-image.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"II+\x00": "TIFF",  # BigTIFF
    b"MM\x00+": "TIFF",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n": "JPEG2000",
    b"\xff\x4f\xff\x51": "JPEG2000",  # bare codestream (.j2k)
    b"\x00\x00\x01\x00": "ICO",
    b"BM": "BMP",
    **{b"P%d" % k: "PPM" for k in range(1, 7)},
}

# TIFF compressions every Pillow build decodes; others (LZMA, Zstandard, WebP, ...)
# depend on how its libtiff was built.
_BASELINE_TIFF_COMPRESSIONS = {1, 2, 3, 4, 5, 6, 7, 8, 32773, 32946}

# EXIF orientation tag value -> transpose that shows the image upright
_ORIENTATION_TAG = 0x0112
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

RESIZE_POLICIES = ("crop", "pad", "patches")


class Rejected(Exception):
    """One file cannot be used; ``reason`` is a key of REASONS, ``detail`` says why."""

    def __init__(self, reason: str, detail: str = ""):
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    """An upright, 8-bit, sRGB (or grey) image at its native size, with facts about its file."""

    pixels: np.ndarray  # uint8 (H, W, C), C = 1 or 3
    format: str  # Pillow's format name, e.g. PNG
    mode: str  # the file's pixel mode before conversion, e.g. P, CMYK, I;16
    frames: int  # number of frames; only the first is used
    orientation: int  # EXIF orientation applied (1 = none; 0 = EXIF unreadable, nothing applied)
    icc: str  # embedded colour profile: none, srgb (already sRGB), converted, invalid (ignored)

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]


# --- reading -----------------------------------------------------------------


def _is_within(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def leaves_folder(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True for a path inside ``folder`` whose real location (links resolved) is outside it.

    Files listed explicitly from elsewhere (outside ``folder`` to begin with) are not links out.
    """
    lexical, root = os.path.abspath(path), os.path.abspath(folder)
    return _is_within(lexical, root) and not _is_within(os.path.realpath(lexical), os.path.realpath(root))


def read_source(path: str | os.PathLike, folder: str | os.PathLike) -> bytes:
    """The bytes of one image file of the culture whose folder is ``folder``."""
    if leaves_folder(path, folder):
        target = os.fsencode(os.path.realpath(path)).decode("utf-8", "backslashreplace")
        raise Rejected("outside_folder", f"link to {target}")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Rejected("unreadable", "broken link" if os.path.islink(path) else "file not found") from None
    except OSError as err:
        raise Rejected("unreadable", err.strerror or str(err)) from None
    if not stat.S_ISREG(info.st_mode):
        raise Rejected("not_a_file", "not a regular file")
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise Rejected("unreadable", err.strerror or str(err)) from None
    if not data:
        raise Rejected("empty", "0 bytes")
    return data


# --- decoding ----------------------------------------------------------------


def sniff_format(data: bytes) -> str | None:
    """The allowed format a file's first bytes announce, if any."""
    for signature, name in _SIGNATURES.items():
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return None


# --- container headers: every sub-image's size, before any pixel is decoded ---------

HEADER_SIZES = {"ICO": ico_sizes, "GIF": gif_sizes}
# formats whose seek() reads only the next frame's header, so every frame can be checked after opening
_SEEKABLE_HEADERS = ("TIFF", "MPO")


def _tiff_codec(code: int | None) -> str:
    name = TiffImagePlugin.COMPRESSION_INFO.get(code, "unknown to Pillow")
    return f"TIFF compression {code} ({name})"


# Pillow's words for a variant it knows but cannot decode (as opposed to damaged data)
_UNSUPPORTED_MESSAGES = ("unsupported bmp", "not available", "unsupported picture format", "compression support is not configured")


def _damage(err: Exception, image: Image.Image | None = None) -> Rejected:
    message = str(err) or type(err).__name__
    lowered = message.lower()
    if any(words in lowered for words in _UNSUPPORTED_MESSAGES):
        return Rejected("unsupported_codec", message)
    if image is not None and image.format == "TIFF":
        code = getattr(image, "tag_v2", {}).get(259)
        if code not in _BASELINE_TIFF_COMPRESSIONS and "decoder error" in lowered:
            return Rejected("unsupported_codec", f"{_tiff_codec(code)} is not compiled into this Pillow's libtiff ({message})")
    truncated = isinstance(err, EOFError) or "truncat" in lowered
    return Rejected("truncated" if truncated else "corrupt", message)


@contextlib.contextmanager
def _pixel_limit(max_pixels: int | None):
    """Make Pillow's own bomb checks (also inside plugins) use our limit, as errors (None: off)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _too_many(detail: str, max_pixels: int) -> Rejected:
    return Rejected("too_many_pixels", f"{detail} > {max_pixels} (ingest.max_pixels)")


def _check_size(width: int, height: int, max_pixels: int, what: str = "") -> None:
    if width * height > max_pixels:
        raise _too_many(f"{what}{width} x {height} = {width * height} pixels", max_pixels)


def _check_frames(image: Image.Image, max_pixels: int) -> int:
    """The frame count, after checking every frame's header size (TIFF, MPO: seek reads headers only)."""
    frames = int(getattr(image, "n_frames", 1))
    if frames > 1 and image.format in _SEEKABLE_HEADERS:
        for frame in range(1, frames):
            image.seek(frame)
            _check_size(*image.size, max_pixels, f"frame {frame + 1} of {frames}: ")
    return frames


def _open_and_load(data: bytes, file_format: str, max_pixels: int, min_side: int) -> tuple[Image.Image, int]:
    """Open ``data`` as ``file_format`` and load its first frame; raises UnidentifiedImageError
    if the format does not accept the bytes, Rejected for everything else."""
    with _pixel_limit(max_pixels):  # also guards sub-images Pillow decodes while opening
        try:
            image = Image.open(io.BytesIO(data), formats=[file_format])
        except UnidentifiedImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise _too_many(str(err).split(",")[0], max_pixels) from None
        except Exception as err:  # Pillow raises many types on malformed headers
            raise _damage(err) from None
        width, height = image.size
        _check_size(width, height, max_pixels)
        if min(width, height) < min_side:
            raise Rejected("too_small", f"{width} x {height}: shorter side below {min_side} px")
        try:
            frames = _check_frames(image, max_pixels)
            image.seek(0)
            image.load()
        except Rejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many("a frame's pixel count", max_pixels) from None
        except Exception as err:
            raise _damage(err, image) from None
    return image, frames


def decode_image(data: bytes, *, channels: int, background=(255, 255, 255), max_pixels: int, min_side: int = 1) -> DecodedImage:
    """Decode the first frame of an image file's bytes into an upright uint8 (H, W, channels) array.

    Raises Rejected for anything that is not a usable image; never decodes a pixel
    of an image (or of any frame or sub-image) above ``max_pixels``, nor of one with
    a side below ``min_side``.  The format the signature announces is tried first;
    if it fails, the other allowed formats that accept the bytes are tried, so
    that a file Pillow can read in some allowed format is never called corrupt.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    Image.init()
    announced = sniff_format(data)
    if announced is not None and announced not in Image.OPEN:
        raise Rejected("unsupported_codec", f"starts like {announced}, which this Pillow cannot open (plugin not compiled in)")
    if announced in HEADER_SIZES:
        sizes = HEADER_SIZES[announced](data)
        for k, size in enumerate(sizes):
            _check_size(*size, max_pixels, f"{announced} sub-image {k + 1} of {len(sizes)} (from its header): ")
    formats = [name for name in ALLOWED_FORMATS if name in Image.OPEN]
    if announced is not None:
        formats.remove(announced)
        formats.insert(0, announced)
    failures = []
    for file_format in formats:
        try:
            image, frames = _open_and_load(data, file_format, max_pixels, min_side)
        except UnidentifiedImageError:
            continue
        except Rejected as rejected:
            if rejected.reason in ("too_many_pixels", "too_small"):
                raise
            failures.append(rejected)
            continue
        break
    else:
        if failures:
            raise failures[0]  # the announced (or first accepting) format's reason
        compression = tiff_compression(data) if announced == "TIFF" else None
        if compression is not None and compression not in TiffImagePlugin.COMPRESSION_INFO:
            raise Rejected("unsupported_codec", f"{_tiff_codec(compression)}: Pillow cannot open it")
        if announced:
            raise Rejected("corrupt", f"starts like {announced} but cannot be opened ({len(data)} bytes)")
        raise Rejected("not_an_image", f"not a supported image ({', '.join(formats)})")
    file_format, mode = image.format, image.mode
    image, orientation = _upright(image)
    try:
        pixels, icc = _canonical_pixels(image, channels, tuple(background))
    except (ValueError, OSError) as err:
        raise Rejected("unsupported_mode", f"mode {mode}: {err}") from None
    return DecodedImage(pixels, file_format, mode, frames, orientation, icc)


def _upright(image: Image.Image) -> tuple[Image.Image, int]:
    try:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block does not damage the pixels
        return image, 0
    if orientation in _UPRIGHT:
        image = image.transpose(_UPRIGHT[orientation])
    return image, orientation


def _grey_from_wide(image: Image.Image) -> Image.Image:
    """8-bit grey from 16/32-bit integer or float samples.

    Integers in 0..65535 (16-bit data) are divided by 257 and floats in [0, 1]
    multiplied by 255, so that brightness means the same in every file; other
    ranges have no known full scale and are stretched from minimum to maximum.
    Non-finite floats become 0.
    """
    values = np.asarray(image).astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError("no finite sample values")
    low, high = values[finite].min(), values[finite].max()
    full_scale = 1.0 if image.mode == "F" else 65535.0
    if 0 <= low and high <= full_scale:
        values = values * (255.0 / full_scale)
    else:
        values = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    values = np.where(finite, values, 0.0)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str):
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if ImageCms.getProfileDescription(source).strip().lower().startswith("srgb"):
        return None
    return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB")


def _to_srgb(image: Image.Image, icc: bytes) -> tuple[Image.Image, str]:
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    colour = image.convert("RGB") if alpha is not None else image
    try:
        transform = _srgb_transform(icc, colour.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image.convert("RGBA" if alpha is not None else "RGB"), "invalid"
    if transform is None:
        return image, "srgb"
    converted = ImageCms.applyTransform(colour, transform)
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, "converted"


def _canonical_pixels(image: Image.Image, channels: int, background: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    icc_profile = image.info.get("icc_profile")
    mode = image.mode
    if mode.startswith("I") or mode == "F":  # I, I;16, I;16B, ...: wide grey samples
        image = _grey_from_wide(image)
    elif mode in ("P", "PA", "RGBa", "La") or (mode in ("L", "RGB", "1") and "transparency" in image.info):
        image = image.convert("RGBA")  # palette and tRNS transparency become an alpha channel
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGB")  # YCbCr, LAB, HSV, RGBX
    icc = "none"
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        image, icc = _to_srgb(image, icc_profile)
    if image.mode == "CMYK":
        image = image.convert("RGB")
    if image.mode in ("LA", "RGBA"):
        backdrop = Image.new("RGBA", image.size, (*background, 255))
        image = Image.alpha_composite(backdrop, image.convert("RGBA")).convert("RGB")
    pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return (pixels[..., None] if channels == 1 else pixels), icc


# --- normalising ---------------------------------------------------------------


def _to_pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)


def _from_pil(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    # Lanczos widens its kernel when shrinking (area-appropriate); reducing_gap
    # first box-averages very large images by an integer factor, for speed.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def centre_crop(pixels: np.ndarray, resolution: int) -> np.ndarray:
    """The largest centred square, resized to resolution x resolution."""
    height, width = pixels.shape[:2]
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # cropped first: resize(box=...) would let the filter see pixels outside the square
    return _from_pil(_resize(_to_pil(pixels[top : top + side, left : left + side]), (resolution, resolution)))


def background_value(background, channels: int) -> tuple[int, ...]:
    """The background colour as a pixel of the given channel count (grey = Pillow's luma)."""
    colour = Image.new("RGB", (1, 1), tuple(background))
    return (colour.convert("L").getpixel((0, 0)),) if channels == 1 else tuple(background)


def pad(pixels: np.ndarray, resolution: int, background=(255, 255, 255)) -> np.ndarray:
    """The whole image, shrunk to fit resolution x resolution and centred on the background colour."""
    height, width, channels = pixels.shape
    scale = resolution / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = np.empty((resolution, resolution, channels), dtype=np.uint8)
    canvas[:] = background_value(background, channels)
    fitted = _from_pil(_resize(_to_pil(pixels), size))
    top, left = (resolution - size[1]) // 2, (resolution - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = fitted
    return canvas


def random_patches(pixels: np.ndarray, resolution: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` square patches at native scale from random positions.

    Returns patches (count, resolution, resolution, C) and their (x, y) corners.
    """
    height, width = pixels.shape[:2]
    if min(width, height) < resolution:
        raise ValueError(f"image {width} x {height} is smaller than a {resolution} px patch")
    corners = np.stack([rng.integers(0, width - resolution + 1, count), rng.integers(0, height - resolution + 1, count)], axis=1)
    patches = np.stack([pixels[y : y + resolution, x : x + resolution] for x, y in corners])
    return patches, corners


def normalise(pixels: np.ndarray, resolution: int, policy: str, background=(255, 255, 255), patches_per_image: int = 1, rng=None) -> np.ndarray:
    """Training images (K, resolution, resolution, C) from one decoded image; K = 1 unless policy is patches."""
    if policy == "crop":
        return centre_crop(pixels, resolution)[None]
    if policy == "pad":
        return pad(pixels, resolution, background)[None]
    if policy == "patches":
        if rng is None:
            raise ValueError("the patches policy needs a random generator")
        return random_patches(pixels, resolution, patches_per_image, rng)[0]
    raise ValueError(f"unknown resize policy {policy!r}; expected one of {RESIZE_POLICIES}")


# --- sample sheets ---------------------------------------------------------------


def image_grid(images: np.ndarray, columns: int, gap: int = 2, fill: int = 255) -> np.ndarray:
    """Tile NHWC uint8 images row by row into one (H', W', C) image with ``gap`` pixels of ``fill`` between;
    no images give one blank row (a figure panel stays in place)."""
    n, h, w, c = images.shape
    rows = max(1, math.ceil(n / columns))
    grid = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, c), fill, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = image
    return grid
