"""The registry of colorization weights (as torchvision / timm keep theirs).

Every entry names a file, where real users get it, how to check it, and what
it is: architecture, input size, bins, licence, training data and published
metrics. Nothing is ever downloaded unless the user asks
(``tinct models download NAME`` or :func:`download`); ``--weights PATH``
works offline with any local file.

Cache: ``$TINCT_CACHE`` if set, else ``$XDG_CACHE_HOME/tinct``, else
``~/.cache/tinct`` (platformdirs' user cache dir on Linux; on macOS
``~/Library/Caches/tinct``, on Windows ``%LOCALAPPDATA%\\tinct\\Cache``).

Checksums: the authors publish their PyTorch files under torch.hub names
whose suffix is the first 8 hex digits of the file's SHA-256
(``colorization_release_v2-9b330a0b.pth``), and torch.hub's
``check_hash=True`` verifies exactly that prefix. The full SHA-256 of those
files is not published; an entry therefore carries either ``sha256`` (full,
checked exactly) or ``sha256_prefix`` (checked as torch.hub does), and a
download prints the full hash it computed. The original Caffe files have no
published checksum; downloading them needs ``allow_unverified=True``
(``--allow-unverified``) and records the hash it saw.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tinct.errors import MissingWeightsError, TinctError


@dataclass(frozen=True)
class WeightsEntry:
    """One weights file.

    Attributes
    ----------
    name : str
        Registry key (``tinct models download NAME``).
    arch : str
        Network architecture: ``'eccv16'``, ``'siggraph17'``, ``'tinctnet'``.
    file : str
        File name in the cache (or, for ``packaged`` entries, in ``tinct/models/weights/``).
    url : str or None
        Official download URL; None for files shipped inside the package.
    sha256 : str or None
        Full SHA-256 of the file, when known.
    sha256_prefix : str or None
        Leading hex digits of the SHA-256 (torch.hub file-name convention) when the full hash is unknown.
    input_size : int
        Side of the square the network was trained / is run at.
    bins : str
        The ab bins its logits refer to ('313', '484', '529').
    licence, training_data : str
    metrics : dict
        Published or measured numbers, with where they come from.
    default : bool
        The entry method ``auto`` uses. At most one entry may be the default.
    guided_default : bool
        The entry ``auto`` uses when the user steers it with colour hints, if it is not the default
        itself: a model can be the better one with hints without being the better one without.
    format : str
        ``'torch'`` (state dict or tinct's self-describing dict), ``'caffe'`` or ``'onnx'``.
    companion : str or None
        Name of an entry that must accompany this one (a Caffe prototxt).
    logit_scale : float
        Factor folded into the file's last conv (see :mod:`tinct.models.eccv16`); tinct divides it out.
    packaged : bool
        The file ships inside the package (no download).
    notes : str
    """

    name: str
    arch: str
    file: str
    url: str | None
    sha256: str | None = None
    sha256_prefix: str | None = None
    input_size: int = 256
    bins: str = "313"
    licence: str = ""
    training_data: str = ""
    metrics: dict = field(default_factory=dict)
    default: bool = False
    guided_default: bool = False
    format: str = "torch"
    companion: str | None = None
    logit_scale: float = 1.0
    packaged: bool = False
    notes: str = ""


# Zhang et al. (ECCV 2016)'s annealed-mean T, the one number behind every 0.38 in tinct: their Caffe release scales
# the logits by 1/T (conv8_313_rh) and the authors' PyTorch port folds 1/T into its last conv, which fixes the
# eccv16 entry's logit_scale. tinct decodes every network with the same T by default (tinct.color.annealed_mean)
# because it keeps colours vivid yet spatially consistent. Both live here, not in tinct.color, because this
# registry must stay light to import (`tinct models`), and tinct.color pulls in SciPy.
PAPER_TEMPERATURE = 0.38
DEFAULT_TEMPERATURE = PAPER_TEMPERATURE

REGISTRY: dict[str, WeightsEntry] = {}


def add(entry: WeightsEntry) -> WeightsEntry:
    """Register an entry (used by this module and by modules that ship weights)."""
    if entry.default and any(e.default for e in REGISTRY.values() if e.name != entry.name):
        raise ValueError(f"weights {entry.name!r}: another entry is already the default")
    REGISTRY[entry.name] = entry
    return entry


def _hub_file(url: str) -> dict:
    """``file``, ``url`` and ``sha256_prefix`` of a file published under a torch.hub name (``NAME-<8 hex>.pth``)."""
    file = url.rsplit("/", 1)[1]
    return {"file": file, "url": url, "sha256_prefix": file.rsplit("-", 1)[1].split(".")[0]}


# Zhang et al.'s releases: the PyTorch port (torch.hub names, run at 256 px) and the original Caffe files (224 px).
_ZHANG_LICENCE = "BSD-2-Clause (richzhang/colorization)"
_ZHANG_PORT = "https://colorizers.s3.us-east-2.amazonaws.com/"
_ZHANG_CAFFE = "http://eecs.berkeley.edu/~rich.zhang/projects/2016_colorization/files/demo_v2/"
_ZHANG_PROTOTXT = "https://raw.githubusercontent.com/richzhang/colorization/caffe/colorization/models/"
_IMAGENET = "ImageNet ILSVRC 2012 training set"


def _zhang_port(name: str, file: str, bins: str, **fields) -> WeightsEntry:
    return add(WeightsEntry(name=name, arch=name, **_hub_file(_ZHANG_PORT + file), input_size=256, bins=bins,
                            licence=_ZHANG_LICENCE, **fields))


def _zhang_caffe(name: str, file: str, base: str = _ZHANG_CAFFE, format: str = "caffe", **fields) -> WeightsEntry:
    return add(WeightsEntry(name=name, arch="eccv16", file=file, url=base + file, input_size=224, bins="313",
                            licence=_ZHANG_LICENCE, format=format, **fields))


_zhang_port(
    "eccv16", "colorization_release_v2-9b330a0b.pth", "313", logit_scale=1.0 / PAPER_TEMPERATURE,
    training_data=f"{_IMAGENET}, 1.3 M images (class-rebalanced loss, lambda = 0.5)",
    metrics={"AuC rebal (ImageNet val, paper Tab. 1)": 67.3, "AuC non-rebal (paper Tab. 1)": 89.5,
             "AMT fooling rate % (paper)": 32.3},
    notes="The authors' PyTorch port of the Caffe release; its code applies no temperature, so the Caffe "
          "conv8_313_rh factor 1/0.38 is taken to be folded into model8.6 (not checked offline).",
)
_zhang_port(
    "siggraph17", "siggraph17-df00044c.pth", "529", training_data=f"{_IMAGENET}, with simulated user hints",
    metrics={"PSNR dB, automatic, ImageNet ctest10k (paper Fig. 4)": 24.43},
    notes="Automatic mode = no hints; the regression head is what the port returns.",
)
_zhang_caffe(
    "eccv16-caffe", "colorization_release_v2.caffemodel", companion="eccv16-caffe-prototxt",
    training_data=f"{_IMAGENET} (class-rebalanced loss)", metrics={"AuC rebal (ImageNet val, paper Tab. 1)": 67.3},
    notes="Original Caffe release of Zhang et al.; needs OpenCV < 5 for cv2.dnn, else tinct reads the blobs itself.",
)
_zhang_caffe("eccv16-caffe-norebal", "colorization_release_v2_norebal.caffemodel", companion="eccv16-caffe-prototxt",
             training_data=f"{_IMAGENET} (no class rebalancing)",
             metrics={"AuC non-rebal (ImageNet val, paper Tab. 1)": 91.1})
_zhang_caffe("eccv16-caffe-prototxt", "colorization_deploy_v2.prototxt", _ZHANG_PROTOTXT, format="prototxt")

add(WeightsEntry(
    name="vgg19bn", arch="vgg19bn", **_hub_file("https://download.pytorch.org/models/vgg19_bn-c79401a0.pth"),
    input_size=224, bins="", licence="BSD-3-Clause (pytorch/vision)",
    training_data="ImageNet ILSVRC 2012 classification",
    notes="Feature extractor, not a colorizer: blocks 1-3 feed the superpixel/exemplar methods "
          "(tinct.exemplar.features, backend=vgg19bn).",
))
add(WeightsEntry(
    name="tinctnet-v2",
    arch="tinctnet",
    file="tinctnet-v2.pt",
    url=None,
    sha256="2acc5cf5f2888c7c31503039c4821bedccaa723ee3c63dfb400b8c6b4ad62ead",
    input_size=128,
    bins="313",
    licence="weights: non-commercial research use (terms of the ImageNet, Tiny ImageNet, CamVid, BSDS500 and "
            "face-crop training data); code BSD-3-Clause",
    training_data="../shared/data/train: 1900 steps x 32 crops of 64 px on all 46,037 photos (stage 1), then "
                  "2800 steps x 32 crops of 96 px on the 25,837 photos at 128 px (stage 2), CPU; logit "
                  "adjustment 0.25; see docs/models/tinctnet-v2.md",
    metrics={"AuC rebal % kodak24 (gray 81.46)": 85.05, "colourfulness kodak24 (gray 0, truth 39.0)": 35.7,
             "AuC rebal % bsds500-test100 (gray 82.78)": 85.10,
             "colourfulness bsds500-test100 (gray 0, truth 41.4)": 33.4,
             "PSNR dB kodak24 (gray 22.55)": 21.98, "PSNR dB bsds500-test100 (gray 21.52)": 21.37},
    default=True,
    packaged=True,
    notes="tinct's own compact U-Net (2.5 M parameters, fp16 file), trained by `tinct train`; accepts ab hints.",
))

add(WeightsEntry(
    name="tinctnet-v5",
    arch="tinctnet",
    file="tinctnet-v5.pt",
    url=None,
    sha256="ea8c460ed371f1b9ee379966f22fda40ecdc13e77e0c29b05bd1abf286732822",
    input_size=128,
    bins="313",
    licence="weights: non-commercial research use (terms of the ImageNet, CamVid, BSDS500, SUN, Intel scenes and "
            "face-crop training data); code BSD-3-Clause",
    training_data="../shared/data/train: tinctnet-v2 fine-tuned on the 25,837 photos and the 4,878 scene photos at "
                  "128 px (256 held out): 2600 steps (v3), 2700 steps with click-style hints (v4), 1500 steps with "
                  "clicked objects given new colours (v5), rebalancing lambda 0.8, CPU; no logit adjustment; see "
                  "docs/models/tinctnet-v5.md",
    metrics={"PSNR dB with 10 hints, 12 images of kodak24 + bsds500-test100 (no hints 21.82)": 24.85,
             "object pixels within ab 15 of one click's new colour, 24 images, 68 clicks (tinctnet-v3: 20.2)": 41.3},
    default=False,
    guided_default=True,
    packaged=True,
    notes="tinct's own compact U-Net (2.5 M parameters, fp16 file), trained by `tinct train`; the model for colour "
          "hints: a click gives its object the clicked colour even where the network would guess another.",
))

def cache_dir() -> Path:
    """Where downloaded weights live: ``$TINCT_CACHE`` or the user cache dir + ``/tinct``."""
    env = os.environ.get("TINCT_CACHE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "tinct"
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "tinct" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tinct"


PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"


def get_entry(name: str) -> WeightsEntry:
    entry = REGISTRY.get(name)
    if entry is None:
        raise MissingWeightsError(f"weights: no registry entry {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return entry


def default_entry(guided: bool = False) -> WeightsEntry | None:
    """The entry method ``auto`` uses: marked ``default=True``, or with ``guided`` (the user gave colour hints)
    the one marked ``guided_default=True`` when there is one; None when there is none."""
    if guided:
        for entry in REGISTRY.values():
            if entry.guided_default:
                return entry
    for entry in REGISTRY.values():
        if entry.default:
            return entry
    return None


def local_path(entry: WeightsEntry | str) -> Path:
    """Where the entry's file is (packaged) or would be (cache); may not exist."""
    entry = get_entry(entry) if isinstance(entry, str) else entry
    return (PACKAGE_WEIGHTS if entry.packaged else cache_dir()) / entry.file


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(entry: WeightsEntry, path: Path) -> str:
    """Check ``path`` against the entry's checksum; return the file's SHA-256. Raises TinctError on mismatch."""
    digest = sha256_of(path)
    if entry.sha256 and digest != entry.sha256.lower():
        raise TinctError(f"weights: {path} has SHA-256 {digest}, registry entry {entry.name!r} says {entry.sha256}")
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix.lower()):
        raise TinctError(
            f"weights: {path} has SHA-256 {digest}, registry entry {entry.name!r} expects prefix {entry.sha256_prefix}"
        )
    return digest


def find(name: str) -> Path:
    """Path of the entry's file if it is present locally (cache or package); else MissingWeightsError."""
    entry = get_entry(name)
    path = local_path(entry)
    if path.is_file():
        return path
    if entry.packaged:
        raise MissingWeightsError(f"weights {name!r}: packaged file {path} is missing from this installation")
    extra = " --allow-unverified" if not (entry.sha256 or entry.sha256_prefix) else ""
    raise MissingWeightsError(
        f"weights {name!r} ({entry.file}) not found in {path.parent}; run `tinct models download {name}{extra}` "
        f"(fetches {entry.url}) or pass a local file with --param weights=PATH"
    )


def download(name: str, *, allow_unverified: bool = False, force: bool = False, progress: bool = True) -> Path:
    """Fetch an entry's file from its official URL into the cache, verify it, and return its path.

    Only called on explicit request. The file is written to a temporary name
    and renamed after the checksum passes, so an interrupted or corrupt
    download never sits in the cache under the real name.
    """
    import urllib.request

    entry = get_entry(name)
    if entry.packaged or not entry.url:
        return find(name)
    if not (entry.sha256 or entry.sha256_prefix) and not allow_unverified:
        raise TinctError(
            f"weights {name!r}: the publisher gives no checksum for {entry.file}; "
            "pass --allow-unverified to download it anyway (its SHA-256 will be printed)"
        )
    dest = local_path(entry)
    if dest.is_file() and not force:
        verify(entry, dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(entry.url, timeout=60) as resp:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0)
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=entry.file, file=sys.stderr)
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
        verify(entry, tmp)
        tmp.replace(dest)
    except OSError as exc:
        raise TinctError(f"weights {name!r}: download from {entry.url} failed: {exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def entries() -> list[WeightsEntry]:
    """All entries, sorted by name."""
    return sorted(REGISTRY.values(), key=lambda e: e.name)
