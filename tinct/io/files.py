"""Files on disk: which files a folder holds, where each input's result goes, and how a new file is made.

Shared by every front end (command line, batch runs, video) through :mod:`tinct.pipeline`, and by the
modules that write files of their own (``.cube`` LUTs, videos).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tinct.errors import ImageReadError, ImageWriteError, ParameterError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


def image_files(folder: Path, suffixes=IMAGE_SUFFIXES) -> list[Path]:
    """The image files under ``folder``, recursively, sorted (by path, so runs are reproducible)."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def collect_inputs(items: list, *, folder_files: Callable[[Path], list[Path]] = image_files,
                   what: str = f"image files ({', '.join(sorted(IMAGE_SUFFIXES))})",
                   regular_only: bool = False) -> list[tuple[Path, Path]]:
    """Expand files and folders into (file, root) pairs, sorted and without duplicates.

    ``root`` is the folder given on the command line (for files: their parent),
    used to mirror sub-folders under the output directory. ``folder_files(folder)``
    lists a folder's inputs (default: its image files), ``what`` names them when a
    folder holds none. ``regular_only`` refuses a named path that is not a regular
    file (a pipe, a device): batch workers open the files themselves, later.
    """
    seen: set[Path] = set()
    out: list[tuple[Path, Path]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = folder_files(path)
            if not files:
                raise ImageReadError(f"{path}: folder holds no {what}")
            pairs = [(f, path) for f in files]
        elif path.is_file() if regular_only else path.exists():
            pairs = [(path, path.parent)]
        else:
            raise ImageReadError(f"{path}: no such file or folder")
        for f, root in pairs:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append((f, root))
    return out


def output_paths(inputs: list[tuple[Path, Path]], output: str | None, method: str, fmt: str | None) -> list[Path]:
    """Where each input's result goes: ``output`` itself when it names an image file and there is one
    input, else generated names (:func:`output_names`) in the folder ``output`` (default: the current one)."""
    out = Path(output) if output else Path.cwd()
    if len(inputs) == 1 and output and out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        return [out]
    return output_names(inputs, out, method, parse_suffix(fmt))


def output_names(inputs: list[tuple[Path, Path]], out_dir: Path, method: str, suffix: str | None) -> list[Path]:
    """Deterministic output paths that never collide.

    ``photo.jpg`` -> ``OUT/photo.<method>.jpg``; files found under a folder keep
    their relative sub-folders. If two inputs would still map to one name, each
    gets a short hash of its absolute path.
    """
    names = []
    for f, root in inputs:
        rel = f.relative_to(root) if f.is_relative_to(root) else Path(f.name)
        ext = suffix or f.suffix.lower()
        names.append(out_dir / rel.parent / f"{rel.stem}.{method}{ext}")
    counts: dict[Path, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    result = []
    for (f, _), n in zip(inputs, names):
        if counts[n] > 1:
            tag = hashlib.sha1(str(f.resolve()).encode()).hexdigest()[:8]
            n = n.with_name(f"{n.stem}-{tag}{n.suffix}")
        result.append(n)
    return result


def parse_suffix(fmt: str | None, what: str = "format") -> str | None:
    """The output extension for a format name (``"png"`` -> ``".png"``); None keeps each input's."""
    if fmt is None:
        return None
    ext = "." + fmt.lower().lstrip(".")
    if ext not in IMAGE_SUFFIXES:
        raise ParameterError(f"{what}: expected one of {', '.join(sorted(s[1:] for s in IMAGE_SUFFIXES))}, got {fmt!r}")
    return ext


def check_new_file(path: Path, *, overwrite: bool = False, source: Path | None = None) -> None:
    """Refuse to write ``path`` where it is ``source`` (the input), a folder, exists (without ``overwrite``)
    or has no folder: checked before any work is done."""
    if source is not None and path.exists() and path.resolve() == source.resolve():
        raise ImageWriteError(f"{path}: it is the input file; refusing to overwrite an input, choose another output name")
    if path.is_dir():
        raise ImageWriteError(f"{path}: is a folder")
    if path.exists() and not overwrite:
        raise ImageWriteError(f"{path}: exists; use --overwrite to replace it")
    if not path.parent.is_dir():
        raise ImageWriteError(f"{path}: folder {path.parent} does not exist")


@contextmanager
def temporary_beside(path: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary name in ``path``'s folder (so that the final :func:`os.replace` is atomic), removed on exit
    unless it was renamed. ``.NAME.tmp-PID`` is the pattern the batch runner clears after a killed worker."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
    finally:
        if tmp.exists():
            tmp.unlink()
