"""Hostile image files built byte by byte (shared by the imageio and ingest tests)."""

import io
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b"")


def png_of_zeros(width: int, height: int) -> bytes:
    """A real, complete 1-bit PNG of width x height black pixels: ~28 KB for 15000 x 15000."""
    row = b"\0" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def ico_wrapping(png: bytes) -> bytes:
    """An ICO of one PNG image that its directory calls 256 x 256."""
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


def gif_with_huge_second_frame(side: int) -> bytes:
    """A 16 x 16 GIF followed by a second frame whose descriptor claims side x side."""
    buffer = io.BytesIO()
    Image.new("P", (16, 16), 1).save(buffer, "GIF")
    first = buffer.getvalue()
    assert first.endswith(b";")
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, side, side, 0) + b"\x02" + b"\x02\x4c\x01\x00"
    return first[:-1] + descriptor + b";"


def tiff(sizes: list[tuple[int, int]]) -> bytes:
    """A little-endian multi-page 8-bit grey TIFF; pages after the first claim their size but hold no pixels."""
    out = bytearray(b"II*\0\0\0\0\0")
    pixels = bytes(range(256)) * (sizes[0][0] * sizes[0][1] // 256 + 1)
    previous_link = 4
    for page, (width, height) in enumerate(sizes):
        strip = len(out)
        if page == 0:
            out += pixels[: width * height]
        tags = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 8),
            (259, 3, 1),
            (262, 3, 1),
            (273, 4, strip),
            (277, 3, 1),
            (278, 4, height),
            (279, 4, width * height),
        ]
        ifd = len(out)
        out[previous_link : previous_link + 4] = struct.pack("<I", ifd)
        out += struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags)
        previous_link = len(out)
        out += b"\0\0\0\0"
    return bytes(out)
