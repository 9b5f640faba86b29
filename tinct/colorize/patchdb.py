"""Patch-database colorization after Kosovichev's Color tool: gray neighbourhoods matched against coloured ones.

Kosovichev's Color tool [1]_ colorized by comparing the gray
neighbourhood of each pixel with a small database of sky, grass, earth and
building samples by cosine similarity, after Otsu's threshold split the image
into two classes, and toned each pixel with the colour of the best match
without changing its shade. tinct does the same, at scale:

* **Database** (:func:`build_database`): from colour photographs, sample
  pixels; for each keep the 7 x 7 neighbourhood of CIELAB L / 100 with its
  mean removed, projected on the first 16 principal components of all such
  vectors (kept in the database), plus the neighbourhood mean encoded as a
  direction ``beta * (cos(pi m / 2), sin(pi m / 2))`` so that flat patches
  are told apart by brightness; the vector is normalised to unit length, so
  a dot product is the cosine similarity. Each vector carries the mean ab of
  its centre 3 x 3 pixels and its Otsu class (above or below its own image's
  Otsu threshold on L).
* **Colorization** (:func:`patchdb`): SLIC superpixels on the gray image; a
  few pixels per superpixel are matched (k nearest by cosine similarity,
  only among database vectors of the same Otsu class); the superpixel takes
  the mean ab of the matches; ab is upsampled to full size and joined with
  the input's own L.

References
----------
.. [1] R. Kosovichev, "The making of the Color tool", Art. Lebedev Studio
       (an article on the studio's site): Otsu split, cosine similarity against
       a patch base, tone without changing shade.
.. [2] N. Otsu, "A threshold selection method from gray-level histograms",
       IEEE Trans. SMC 9(1), 1979.
.. [3] R. Achanta et al., "SLIC superpixels compared to state-of-the-art
       superpixel methods", IEEE TPAMI 34(11), 2012.
.. [4] T. Welsh, M. Ashikhmin, K. Mueller, "Transferring color to greyscale
       images", ACM TOG 21(3), 2002 (neighbourhood matching for colorization).
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinct.errors import ImageReadError, ParameterError, TinctError
from tinct.pixels import check_image, split_alpha, to_float_rgb
from tinct.registry import Input, Param, register

PATCH = 7  # neighbourhood side
DIMS = 16  # principal components kept
BETA = 0.05  # length of the brightness direction, in units of L / 100 texture amplitude
DEFAULT_DB = Path(__file__).with_name("data") / "patchdb_default.npz"
NATURAL_SOURCES = ("bsds500", "camvid", "flowers-5class", "imagenette-224sq")
_FORMAT = 1
# Class table used when a label folder has no classes.txt: label image value i means DEFAULT_CLASSES[i].
DEFAULT_CLASSES = ("unlabelled", "sky", "vegetation", "earth", "building", "water", "skin", "other")


@dataclass
class PatchDatabase:
    """Database vectors with their colours.

    Attributes
    ----------
    basis : (PATCH*PATCH, DIMS) float32
        Principal directions of mean-centred neighbourhoods.
    features : (N, DIMS + 2) float32
        Unit vectors (see module docstring).
    ab : (N, 2) float32
        CIELAB a, b of each vector's centre.
    cls : (N,) uint8
        Otsu class of the centre pixel in its own image (1 = bright).
    beta : float
        Brightness direction length used when the database was built.
    sources : str
        Free text: where the colours came from.
    labels : (N,) uint16 or None
        Semantic class id of each vector's centre pixel (from label masks at
        build time; 0 = unlabelled); None for a database built without labels.
    class_names : tuple of str
        ``class_names[i]`` names label id i; empty without labels.
    """

    basis: np.ndarray
    features: np.ndarray
    ab: np.ndarray
    cls: np.ndarray
    beta: float = BETA
    sources: str = ""
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()

    def class_ids(self, names) -> np.ndarray:
        """Label ids of ``names`` (class names or decimal ids); a clear ParameterError for unknown ones."""
        if self.labels is None:
            raise ParameterError("classes: this patch database has no label masks (build it with --labels)")
        ids = []
        for name in names:
            name = str(name).strip()
            if name.isdigit() and int(name) < len(self.class_names):
                ids.append(int(name))
            elif name in self.class_names:
                ids.append(self.class_names.index(name))
            else:
                known = ", ".join(n for n in self.class_names if n)
                raise ParameterError(f"classes: {name!r} is not a class of this patch database (known: {known})")
        return np.array(ids, np.int64)

    def save(self, path) -> None:
        """Write a compressed ``.npz`` (features as float16, ab as int8)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        extra = {}
        if self.labels is not None:  # optional keys: files without them (format 1 as first shipped) still load
            extra = {"labels": self.labels.astype(np.uint16), "class_names": np.array(self.class_names, dtype=str)}
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, format=np.int64(_FORMAT), patch=np.int64(PATCH), basis=self.basis.astype(np.float32),
                features=self.features.astype(np.float16), ab=np.clip(np.round(self.ab), -128, 127).astype(np.int8),
                cls=self.cls.astype(np.uint8), beta=np.float64(self.beta), sources=np.array(self.sources), **extra,
            )
        tmp.replace(path)

    @classmethod
    def load(cls, path) -> PatchDatabase:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format"]) != _FORMAT or int(z["patch"]) != PATCH:
                    raise ImageReadError(f"{path}: patch database format {int(z['format'])} is not supported")
                labels, names = None, ()
                if "labels" in z.files:
                    labels = z["labels"].astype(np.uint16)
                    names = tuple(str(n) for n in z["class_names"])
                    if len(labels) != len(z["ab"]) or (len(labels) and int(labels.max()) >= len(names)):
                        raise ValueError("labels do not match the class table")
                return cls(z["basis"].astype(np.float32), z["features"].astype(np.float32),
                           z["ab"].astype(np.float32), z["cls"].astype(np.uint8), float(z["beta"]), str(z["sources"]),
                           labels, names)
        except FileNotFoundError:
            raise ImageReadError(f"{path}: no such patch database") from None
        except (OSError, KeyError, ValueError) as exc:
            raise ImageReadError(f"{path}: not a tinct patch database ({exc})") from None


def _patches(gray: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(n, PATCH*PATCH) neighbourhoods of ``gray`` centred at (ys, xs), edge-padded."""
    r = PATCH // 2
    pad = np.pad(gray, r, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, (PATCH, PATCH))
    return win[ys, xs].reshape(len(ys), PATCH * PATCH).astype(np.float32)


def _features(patches: np.ndarray, basis: np.ndarray, beta: float) -> np.ndarray:
    """Mean-centred, projected, brightness-augmented, unit-length vectors."""
    mean = patches.mean(axis=1, keepdims=True)
    proj = (patches - mean) @ basis
    angle = mean[:, 0] * np.float32(np.pi / 2)
    feats = np.concatenate([proj, beta * np.stack([np.cos(angle), np.sin(angle)], axis=1)], axis=1)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    return feats.astype(np.float32)


def _otsu(lightness: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    if float(lightness.max() - lightness.min()) < 1e-6:
        return float(lightness.max())
    return float(threshold_otsu(lightness))


def _sample_image(rgb: np.ndarray, per_image: int, rng: np.random.Generator, labels: np.ndarray | None = None):
    """Sampled (patches, ab, cls, label) of one colour image; None for gray or tiny images.

    ``label`` is ``labels`` at the sampled centres, or None without ``labels``.
    """
    from tinct.color.lab import rgb2lab

    h, w = rgb.shape[:2]
    if h < PATCH or w < PATCH:
        return None
    lab = rgb2lab(rgb)
    if float(np.hypot(lab[..., 1], lab[..., 2]).mean()) < 2.0:  # a gray photo teaches nothing
        return None
    gray = lab[..., 0] / np.float32(100.0)
    r = PATCH // 2
    ys = rng.integers(r, h - r, per_image)
    xs = rng.integers(r, w - r, per_image)
    patches = _patches(gray, ys, xs)
    ab = np.zeros((per_image, 2), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ab += lab[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1), 1:]
    ab /= 9.0
    cls = (lab[ys, xs, 0] > _otsu(lab[..., 0])).astype(np.uint8)
    return patches, ab, cls, None if labels is None else labels[ys, xs]


def iter_images(source, sources: tuple[str, ...] | None = None, limit: int | None = None):
    """Yield RGB uint8 arrays from a folder of images or a folder of tar shards with ``index.csv``.

    Parameters
    ----------
    source : path
        A folder. Image files in it (recursively) are read with
        :func:`tinct.io.read_image`; ``*.tar`` shards are read member by member.
    sources : tuple of str, optional
        With shards and an ``index.csv`` (columns shard, member, source): only
        members whose source is listed.
    limit : int, optional
        Stop after this many images.
    """
    import csv

    from PIL import Image

    from tinct.io.files import IMAGE_SUFFIXES

    root = Path(source)
    if not root.is_dir():
        raise ImageReadError(f"{root}: not a folder")
    count = 0
    shards = sorted(root.glob("*.tar"))
    if shards:
        wanted = None
        index = root / "index.csv"
        if sources and index.is_file():
            with open(index, newline="") as fh:
                wanted = {(row["shard"], row["member"]) for row in csv.DictReader(fh) if row["source"] in sources}
        for shard in shards:
            with tarfile.open(shard) as tar:
                for member in tar:
                    if not member.isfile() or Path(member.name).suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    if wanted is not None and (shard.name, member.name) not in wanted:
                        continue
                    data = tar.extractfile(member).read()
                    try:
                        img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                    except OSError:
                        continue
                    yield img
                    count += 1
                    if limit is not None and count >= limit:
                        return
        return
    for _, pixels in _image_files(root, "holds neither image files nor .tar shards"):
        yield pixels
        count += 1
        if limit is not None and count >= limit:
            return


def read_class_table(label_dir) -> tuple[str, ...]:
    """The class table of a label folder: ``classes.txt`` in it, else :data:`DEFAULT_CLASSES`.

    ``classes.txt`` has one class per line, ``ID NAME`` (or ``ID,NAME``); ids
    are label image values 1..65535, 0 is always ``unlabelled``; blank lines
    and ``#`` comments are ignored. Names are single words (no commas).
    """
    path = Path(label_dir) / "classes.txt"
    if not path.is_file():
        return DEFAULT_CLASSES
    table: dict[int, str] = {0: "unlabelled"}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2 or not parts[0].isdigit() or not 1 <= int(parts[0]) <= 65535:
            raise ParameterError(f"{path}:{number}: expected 'ID NAME' with ID in 1..65535, got {line!r}")
        if parts[1] in table.values() or parts[1].isdigit():
            raise ParameterError(f"{path}:{number}: class name {parts[1]!r} is repeated or a number")
        table[int(parts[0])] = parts[1]
    return tuple(table.get(i, "") for i in range(max(table) + 1))


def iter_labelled(source, label_dir, limit: int | None = None):
    """Yield ``(rgb, labels)`` pairs: each colour image in ``source`` with its label image in ``label_dir``.

    The label image of ``source/sub/name.jpg`` is ``label_dir/sub/name.<ext>``
    (any image suffix; PNG keeps integer values exactly): one channel (or equal
    channels) of integer class ids, 0 = unlabelled, the same size as the photo.
    A missing or mismatched label image is an error naming the file.
    """
    from tinct.io import read_image
    from tinct.io.files import IMAGE_SUFFIXES

    root, ldir = Path(source), Path(label_dir)
    if not ldir.is_dir():
        raise ImageReadError(f"{ldir}: label folder does not exist")
    if root.is_dir() and any(root.glob("*.tar")):
        raise ParameterError("--labels: label masks need a folder of image files, not .tar shards")
    count = 0
    for path, pixels in _image_files(root):
        rel = path.relative_to(root).with_suffix("")
        candidates = [p for p in sorted((ldir / rel.parent).glob(rel.name + ".*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not candidates:
            raise ImageReadError(f"{path}: no label image {ldir / rel}.png")
        lab = read_image(candidates[0]).pixels
        if lab.ndim == 3:
            if not (lab == lab[..., :1]).all():
                raise ImageReadError(f"{candidates[0]}: label image must have one channel of class ids, not colours")
            lab = lab[..., 0]
        if lab.dtype.kind not in "ui":
            raise ImageReadError(f"{candidates[0]}: label image must hold integer class ids, got {lab.dtype}")
        if lab.shape != pixels.shape[:2]:
            raise ImageReadError(f"{candidates[0]}: size {lab.shape} does not match the photo's {pixels.shape[:2]}")
        yield pixels, lab.astype(np.uint16)
        count += 1
        if limit is not None and count >= limit:
            return


def _image_files(root: Path, empty: str = "holds no image files"):
    """(path, pixels) of the colour image files under ``root``, sorted; gray files are passed over."""
    from tinct.io import read_image
    from tinct.io.files import image_files

    if not root.is_dir():
        raise ImageReadError(f"{root}: not a folder")
    files = image_files(root)
    if not files:
        raise ImageReadError(f"{root}: {empty}")
    for path in files:
        pixels = read_image(path).pixels
        if pixels.ndim == 3:
            yield path, pixels


def build_database(images, *, per_image: int = 8, max_vectors: int = 60_000, seed: int = 0,
                   sources_text: str = "", class_names: tuple[str, ...] | None = None) -> PatchDatabase:
    """Build a patch database from colour images.

    Parameters
    ----------
    images : iterable of (H, W, 3) arrays, or of (image, labels) pairs
        Colour photographs (uint8, uint16 or float); gray ones are skipped.
        With ``class_names``, each item is a pair whose ``labels`` is an
        (H, W) integer array of class ids (see :func:`iter_labelled`).
    per_image : int, default 8
        Pixels sampled per image.
    max_vectors : int, default 60000
        Keep at most this many vectors (a random subset); 60,000 fit in about
        2.5 MB.
    seed : int
        Random seed, for reproducible databases.
    sources_text : str
        Provenance stored in the file.
    class_names : tuple of str, optional
        Class table of the label masks (``class_names[i]`` names id i); makes
        a labelled database. Label ids outside the table are an error.

    Returns
    -------
    PatchDatabase
    """
    if per_image < 1 or max_vectors < 1:
        raise ParameterError("per_image and max_vectors must be at least 1")
    rng = np.random.default_rng(seed)
    chunks = []
    for item in images:
        img, labels = item if class_names is not None else (item, None)
        if labels is not None and labels.size and int(labels.max()) >= len(class_names):
            raise ParameterError(f"labels: class id {int(labels.max())} is not in the class table "
                                 f"({len(class_names)} classes; add it to classes.txt)")
        sample = _sample_image(to_float_rgb(split_alpha(check_image(img))[0]), per_image, rng, labels)
        if sample is not None:
            chunks.append(sample)
    if not chunks:
        raise TinctError("patchdb build: no colour images found")
    patches = np.concatenate([c[0] for c in chunks])
    ab = np.concatenate([c[1] for c in chunks])
    cls = np.concatenate([c[2] for c in chunks])
    labels = None if class_names is None else np.concatenate([c[3] for c in chunks]).astype(np.uint16)
    if len(patches) > max_vectors:
        keep = np.sort(rng.choice(len(patches), max_vectors, replace=False))
        patches, ab, cls = patches[keep], ab[keep], cls[keep]
        labels = None if labels is None else labels[keep]
    centred = patches - patches.mean(axis=1, keepdims=True)
    # Principal directions of the (already per-patch centred) neighbourhoods.
    _, _, vt = np.linalg.svd(centred[: min(len(centred), 20_000)].astype(np.float64), full_matrices=False)
    basis = vt[:DIMS].T.astype(np.float32)
    if basis.shape[1] < DIMS:
        basis = np.pad(basis, ((0, 0), (0, DIMS - basis.shape[1])))
    return PatchDatabase(basis, _features(patches, basis, BETA), ab, cls, BETA, sources_text, labels,
                         tuple(class_names) if class_names is not None else ())


_CACHE: dict[str, PatchDatabase] = {}


def load_database(path: str | None = None) -> PatchDatabase:
    """Load (and cache) a database; ``None`` or ``'default'`` is the one shipped with tinct."""
    p = DEFAULT_DB if path in (None, "", "default") else Path(path)
    key = str(p.resolve())
    if key not in _CACHE:
        _CACHE[key] = PatchDatabase.load(p)
    return _CACHE[key]


def match(db: PatchDatabase, features: np.ndarray, cls: np.ndarray, k: int, allowed: np.ndarray | None = None,
          region: np.ndarray | None = None) -> np.ndarray:
    """Mean ab of the ``k`` most cosine-similar database vectors of the same Otsu class.

    Uses scikit-learn's exact brute-force :class:`~sklearn.neighbors.NearestNeighbors`
    on unit vectors (Euclidean order = cosine order). A class missing from the
    database falls back to all vectors.

    With a labelled database, ``allowed`` (label ids) restricts every match to
    vectors of those classes, and ``region`` (one label id per query, 0 = no
    restriction) restricts each query to vectors of its own class. Within those
    pools the Otsu class is kept when it can be.
    """
    from sklearn.neighbors import NearestNeighbors

    out = np.zeros((len(features), 2), np.float32)
    base = np.ones(len(db.cls), bool) if allowed is None else np.isin(db.labels, allowed)
    if region is None:
        region = np.zeros(len(features), np.int64)
    for r in np.unique(region):
        pool_r = base if r == 0 else db.labels == r
        if not pool_r.any():
            name = db.class_names[r] if r < len(db.class_names) else str(r)
            raise ParameterError(f"label_map: the patch database has no vectors of class {name!r}")
        for c in (0, 1):
            q = (cls == c) & (region == r)
            if not q.any():
                continue
            pool = np.flatnonzero(pool_r & (db.cls == c))
            if len(pool) == 0:
                pool = np.flatnonzero(pool_r)
            kk = min(k, len(pool))
            nn = NearestNeighbors(n_neighbors=kk, algorithm="brute", metric="euclidean").fit(db.features[pool])
            idx = nn.kneighbors(features[q], return_distance=False)
            out[q] = db.ab[pool[idx]].mean(axis=1)
    return out


@register(
    "patchdb",
    kind="colorize",
    summary="Colour superpixels from the most similar gray neighbourhoods of a patch database (after Kosovichev's "
            "Color tool).",
    params=[
        Param("database", "str", "default", "Patch database file (.npz from `tinct patchdb build`), or default.", path=True),
        Param("segments", "int", 1500, "Number of SLIC superpixels.", min=1, max=100_000),
        Param("samples", "int", 12, "Pixels matched per superpixel.", min=1, max=1000),
        Param("k", "int", 16, "Nearest database vectors averaged per matched pixel.", min=1, max=1000),
        Param("work_size", "int", 512, "Longer side of the image the matching runs on.", min=32, max=8192),
        Param("classes", "str", "", "Comma-separated classes (names or ids) of a labelled database to match "
              "against, e.g. sky,vegetation; empty: all."),
    ],
    inputs=[Input("label_map", "labels", help="class labels of the input (with -p classes=...: only those classes "
                  "take colour from their own class in a labelled database)")],
)
def patchdb(image, *, label_map=None, database="default", segments=1500, samples=12, k=16, work_size=512,
            classes=""):
    """Colorize a gray image from a database of coloured gray neighbourhoods (after Kosovichev's Color tool).

    Parameters
    ----------
    image : (H, W[, 1|3|4]) ndarray
        Gray image (a colour image is used through its L); uint8, uint16 or
        float in [0, 1]. Alpha is carried through.
    database : str, default 'default'
        Path of a database built by ``tinct patchdb build``; ``'default'`` is
        the small database shipped with tinct (see ``docs/patchdb.md``).
    segments : int, default 1500
        SLIC superpixels at the working size; each gets one colour.
    samples : int, default 12
        Pixels per superpixel matched against the database.
    k : int, default 16
        Nearest neighbours averaged per matched pixel.
    work_size : int, default 512
        Matching runs on the image scaled so its longer side is at most this;
        ab is upsampled and joined with the full-resolution L.
    classes : str, default ''
        With a database built with label masks (``tinct patchdb build
        --labels``): comma-separated class names or ids; only database
        vectors of these classes are matched (e.g. ``'sky,vegetation,water'``
        for a landscape). Empty: all vectors.
    label_map : (H, W) integer array_like, optional
        Per-pixel class ids of the input image in the database's class table
        (``PatchDatabase.class_names``); a pixel with id k > 0 is matched only
        against vectors of class k, id 0 leaves it free (within ``classes``).
        Python API only.

    Returns
    -------
    ndarray
        Colour image of the input's dtype, with the input's own L.

    References
    ----------
    .. [1] R. Kosovichev, "The making of the Color tool", Art. Lebedev Studio (Otsu split, cosine similarity).
    .. [2] R. Achanta et al., "SLIC superpixels", IEEE TPAMI 34(11), 2012.
    """
    import cv2
    from skimage.segmentation import slic

    from tinct.color.gray import rgb2lightness
    from tinct.color.lab import lab2rgb
    from tinct.pixels import output_dtype, restore

    arr = check_image(image)
    rgb_in = split_alpha(arr)[0] if arr.ndim == 3 else arr
    lightness = rgb2lightness(to_float_rgb(rgb_in))
    db = load_database(database)
    h, w = lightness.shape
    names = [c for c in classes.split(",") if c.strip()]
    allowed = db.class_ids(names) if names else None
    if allowed is not None and not np.isin(db.labels, allowed).any():
        raise ParameterError(f"classes: the patch database has no vectors of classes {classes!r}")
    regions = None
    if label_map is not None:
        regions = np.asarray(label_map)
        if regions.shape != (h, w) or regions.dtype.kind not in "uib":
            raise ParameterError(f"label_map: expected an ({h}, {w}) integer array, got {regions.shape} {regions.dtype}")
        if db.labels is None:
            raise ParameterError("label_map: this patch database has no label masks (build it with --labels)")
        if regions.size and (int(regions.min()) < 0 or int(regions.max()) >= len(db.class_names)):
            raise ParameterError(f"label_map: ids must lie in 0..{len(db.class_names) - 1} (the database's classes)")
    scale = min(1.0, work_size / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(lightness, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else lightness
    gray = small / np.float32(100.0)

    labels = slic(gray, n_segments=segments, compactness=0.1, channel_axis=None, start_label=0)
    reg_small = None
    if regions is not None:  # superpixels never straddle two regions of the label map
        reg = regions.astype(np.int32)
        reg_small = cv2.resize(reg, (sw, sh), interpolation=cv2.INTER_NEAREST) if scale < 1 else reg
        combined = labels.astype(np.int64) * (int(reg_small.max()) + 1) + reg_small
        labels = np.unique(combined, return_inverse=True)[1].reshape(labels.shape)
    n_labels = int(labels.max()) + 1
    # Up to `samples` pixels per superpixel: order pixels randomly, keep each label's first ones.
    rng = np.random.default_rng(0)
    flat = labels.ravel()
    order = rng.permutation(flat.size)
    order = order[np.argsort(flat[order], kind="stable")]
    starts = np.searchsorted(flat[order], np.arange(n_labels))
    rank = np.arange(order.size) - starts[flat[order]]
    chosen = order[rank < samples]
    ys, xs = np.divmod(chosen, sw)
    feats = _features(_patches(gray, ys, xs), db.basis, db.beta)
    cls = (small.ravel()[chosen] > _otsu(small)).astype(np.uint8)
    region = None if reg_small is None else reg_small.ravel()[chosen].astype(np.int64)
    ab_pix = match(db, feats, cls, k, allowed, region)

    lab_of = flat[chosen]
    counts = np.bincount(lab_of, minlength=n_labels).astype(np.float32)
    ab_sp = np.stack([np.bincount(lab_of, ab_pix[:, c], minlength=n_labels) for c in (0, 1)], axis=1)
    ab_sp /= np.maximum(counts, 1.0)[:, None]
    ab_small = ab_sp[labels].astype(np.float32)
    ab = cv2.resize(ab_small, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1 else ab_small
    lab = np.empty((h, w, 3), np.float32)
    lab[..., 0] = lightness
    lab[..., 1:] = ab
    # 'chroma' brings out-of-gamut colours in by reducing chroma only, so L stays the input's.
    return restore(lab2rgb(lab, gamut="chroma", dtype=output_dtype(arr)), arr)
