"""Hostile files for tests: a decompression-bomb PNG that is small on disk."""

from __future__ import annotations

import struct
import zlib


def bomb_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of ``width``×``height`` zeros, compressed a megabyte at a time (small on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), bytes(width + 1)  # filter byte + pixels
    rows_per_block = max(1, (1 << 20) // len(row))
    idat = b"".join(packer.compress(row * min(rows_per_block, height - y)) for y in range(0, height, rows_per_block))
    idat += packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
