"""Sizes and codecs of image containers read from their headers, before Pillow decodes a pixel.

Pure functions of a file's bytes: Pillow decodes an ICO's largest image while opening it, so
``ganstyle.io.images`` checks every sub-image's size from these first.
"""

from __future__ import annotations


def _u16(data: bytes, at: int, order: str = "<") -> int:
    return int.from_bytes(data[at : at + 2], "little" if order == "<" else "big")


def _u32(data: bytes, at: int, order: str = "<") -> int:
    return int.from_bytes(data[at : at + 4], "little" if order == "<" else "big")


def ico_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every image of an ICO: from the PNG or bitmap header each
    directory entry points to (what Pillow decodes), not the entry's own byte-sized fields."""
    sizes = []
    for k in range(_u16(data, 4)):
        entry = 6 + 16 * k
        if entry + 16 > len(data):
            break
        sizes.append((data[entry] or 256, data[entry + 1] or 256))
        offset = _u32(data, entry + 12)
        if data[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and len(data) >= offset + 24:
            sizes.append((_u32(data, offset + 16, ">"), _u32(data, offset + 20, ">")))
        elif _u32(data, offset) == 12 and len(data) >= offset + 8:  # BITMAPCOREHEADER
            sizes.append((_u16(data, offset + 4), _u16(data, offset + 6) // 2))
        elif _u32(data, offset) >= 40 and len(data) >= offset + 12:  # BITMAPINFOHEADER and later
            width, height = (abs(int.from_bytes(data[offset + i : offset + i + 4], "little", signed=True)) for i in (4, 8))
            sizes.append((width, height // 2))  # XOR image above an AND mask
    return sizes


def _skip_sub_blocks(data: bytes, at: int) -> int:
    while at < len(data) and data[at]:
        at += data[at] + 1
    return at + 1


def gif_sizes(data: bytes) -> list[tuple[int, int]]:
    """The canvas and every frame's extent of a GIF (Pillow grows the canvas to hold a frame)."""
    width, height = _u16(data, 6), _u16(data, 8)
    sizes = [(width, height)]
    flags, at = data[10] if len(data) > 10 else 0, 13
    if flags & 0x80:
        at += 3 << ((flags & 7) + 1)  # global colour table
    while at < len(data):
        block = data[at]
        if block == 0x2C and at + 10 <= len(data):  # image descriptor
            left, top, w, h = (_u16(data, at + 1 + 2 * i) for i in range(4))
            sizes.append((max(width, left + w), max(height, top + h)))
            local = data[at + 9]
            at += 10 + ((3 << ((local & 7) + 1)) if local & 0x80 else 0) + 1  # + LZW code size
            at = _skip_sub_blocks(data, at)
        elif block == 0x21:  # extension: label, then sub-blocks
            at = _skip_sub_blocks(data, at + 2)
        else:  # trailer, or damage Pillow will report
            break
    return sizes


def tiff_compression(data: bytes) -> int | None:
    """The Compression tag of a classic TIFF's first image, read without Pillow (None: BigTIFF)."""
    order = "<" if data[:2] == b"II" else ">"
    if _u16(data, 2, order) != 42:
        return None
    ifd = _u32(data, 4, order)
    for k in range(_u16(data, ifd, order) if ifd + 2 <= len(data) else 0):
        entry = ifd + 2 + 12 * k
        if entry + 12 <= len(data) and _u16(data, entry, order) == 259:
            return _u16(data, entry + 8, order)
    return 1  # the tag's default: no compression
