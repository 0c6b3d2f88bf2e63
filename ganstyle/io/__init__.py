"""Atomic result writers.

Every result file is written to a temporary sibling and renamed into place,
so an interrupted job never leaves a half-written file that looks complete
(rename is atomic on POSIX within one file system).  An exception removes the
temporary file at once; a killed process (SIGKILL) cannot, so the next write of
the same file removes the temporaries that dead processes on this host left.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``path`` that processes on this host left when they were
    killed mid-write (their process is gone); returns them.  Writers elsewhere are left alone."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[^.]+\.tmp")
    removed = []
    for sibling in path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"):
        match = pattern.match(sibling.name)
        if match and match["host"] == _host() and not _alive(int(match["pid"])):
            sibling.unlink(missing_ok=True)
            removed.append(sibling)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary name carries this host and process id, so that a later write of the same
    file can tell a killed writer's leftover (removed) from a running one's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}-{os.getpid()}-", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp creates 0600 files; give results the mode any new file would get.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder next to ``path``; on success it replaces ``path`` (a whole folder, never half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    old = path.with_name(f".{path.name}.old")
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)  # two renames: the old folder is whole until the new one takes its place
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_tsv(path, frame: pd.DataFrame, index: bool = False) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=index, float_format="%.6g", lineterminator="\n")


def write_parquet(path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_npz(path, **arrays) -> None:
    # np.savez appends ".npz" to names without it, so hand it an open file.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def save_figure(fig, path, **kwargs) -> None:
    """Save a matplotlib figure atomically; the format follows ``path``'s suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)


def save_png(path, pixels: np.ndarray) -> None:
    """Save uint8 (H, W, C) pixels as a PNG atomically (one channel: grey)."""
    from PIL import Image

    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def save_keras(model, path) -> None:
    """Save a Keras model atomically (Keras insists on the ``.keras`` suffix)."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def read_tsv(path, **kwargs) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", **kwargs)
