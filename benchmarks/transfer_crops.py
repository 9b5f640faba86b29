"""Small before/after JPEG crops of the transfer fixes of issue 20 item 6, for ``docs/transfer.md``.

- ``parrots_*``: Kodak 23 (a defocused green background) recoloured by ``sliced`` from the ocean sunset of
  ``transfer-pairs``: crops of the background, before (the unsmoothed 1-D quantile maps, restored by setting
  ``tinct.transfer.sliced._SMOOTH = 0``) and after; ``*_raw`` are the same without regrain, where the map shows
  most.
- ``ramps_*``: the left half of the banding benchmark's uint8 ramps (``transfer_quality.banding_inputs``),
  ``sliced`` without regrain before and after, at native resolution (bands are one-pixel steps).
- ``flower_*``: flowers recoloured by ``superpixel`` from the ocean sunset, before (``gamut='chroma'``: the
  target's L kept, chroma shrunk to fit, as before this change) and after (the default ``gamut='lightness'``):
  Kodak 7 (hibiscus, half size), and Kodak 20 (an aeroplane under a pale sky, half size), the Kodak photo whose
  chroma gained most (14.6 -> 39.5; the sky's is 43.2).

Only Kodak photos (free for research use) and synthetic ramps go into the repository; the reference, the
ocean sunset of ``transfer-pairs`` (a demo image of jrosebr1/color_transfer, licence not stated), lends its
colours but is not copied. ``--extra`` also writes a 128 x 128 sunflower of the training shards (TensorFlow
flowers, CC-BY per image) at 2x and the reference itself, for looking at, not for committing.

Usage::

    python benchmarks/transfer_crops.py [OUTDIR] [--extra]     # default docs/images/transfer

Every JPEG is kept under 60 KB (quality lowered until it fits) and the script prints the sizes.
"""

from __future__ import annotations

import importlib
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transfer_quality import KODAK, PAIRS, REPO, SHARED, banding_inputs, read_rgb  # noqa: E402

MAX_BYTES = 60_000


def save(path: Path, rgb: np.ndarray) -> int:
    for q in range(88, 40, -6):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        if len(buf) <= MAX_BYTES:
            break
    path.write_bytes(buf.tobytes())
    return len(buf)


def main(argv=None) -> int:
    argv = list(argv or [])
    extra = "--extra" in argv
    paths = [a for a in argv if a != "--extra"]
    out = Path(paths[0] if paths else REPO / "docs" / "images" / "transfer")
    out.mkdir(parents=True, exist_ok=True)
    sliced_mod = importlib.import_module("tinct.transfer.sliced")
    from tinct.transfer import sliced, superpixel

    sky = read_rgb(PAIRS / "jrosebr1" / "ocean_sunset.jpg")
    files = {}
    if extra:
        files["sky_reference.jpg"] = cv2.resize(sky, (320, 240), interpolation=cv2.INTER_AREA)

    parrots = read_rgb(KODAK / "kodim23.jpg")
    crop = np.s_[0:200, 0:300]  # the defocused background above the left parrot
    files["parrots_target.jpg"] = parrots[crop]
    f32, u8, ramp_ref, h0 = banding_inputs()
    ramps = np.s_[h0:, :384]
    files["ramps_target.jpg"] = u8[ramps]
    smooth = sliced_mod._SMOOTH
    try:
        for tag, value in (("before", 0.0), ("after", smooth)):
            sliced_mod._SMOOTH = value
            files[f"parrots_sliced_{tag}.jpg"] = sliced(parrots, sky)[crop]
            files[f"parrots_sliced_{tag}_raw.jpg"] = sliced(parrots, sky, regrain=0)[crop]
            files[f"ramps_sliced_{tag}_raw.jpg"] = sliced(u8, ramp_ref, regrain=0)[ramps]
    finally:
        sliced_mod._SMOOTH = smooth

    flower = read_rgb(KODAK / "kodim07.jpg")
    files["flower_target.jpg"] = flower[::2, ::2]  # 384 x 256
    files["flower_superpixel_before.jpg"] = superpixel(flower, sky, gamut="chroma")[::2, ::2]
    files["flower_superpixel_after.jpg"] = superpixel(flower, sky)[::2, ::2]
    plane = read_rgb(KODAK / "kodim20.jpg")
    files["plane_target.jpg"] = plane[::2, ::2]
    files["plane_superpixel_before.jpg"] = superpixel(plane, sky, gamut="chroma")[::2, ::2]
    files["plane_superpixel_after.jpg"] = superpixel(plane, sky)[::2, ::2]
    if extra:
        with tarfile.open(SHARED / "data" / "train" / "photos-128-000.tar") as shard:
            buf = np.frombuffer(shard.extractfile("000152.jpg").read(), np.uint8)  # flowers-5class: a sunflower
        sunflower = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()

        def zoom(img):
            return cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)

        files["sunflower_target.jpg"] = zoom(sunflower)
        files["sunflower_superpixel_before.jpg"] = zoom(superpixel(sunflower, sky, gamut="chroma"))
        files["sunflower_superpixel_after.jpg"] = zoom(superpixel(sunflower, sky))

    total = 0
    for name, img in files.items():
        size = save(out / name, img)
        total += size
        print(f"{name:36s} {img.shape[1]}x{img.shape[0]}  {size / 1000:.1f} KB")
    print(f"total {total / 1000:.1f} KB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
