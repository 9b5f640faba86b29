"""Write a training run's held-out validation images as a tar shard, for calibrating and ablating that model.

The trainer keeps ``--val-count`` images out of training by a fixed permutation
(:func:`tinct.train.loop.validation_split`); this recreates the same split from the same shards and
writes those images, as the trainer saw them (decoded and stored at ``--load-size``), as JPEG members
of a plain tar, the format ``benchmarks/auto_ablation.py --shards`` reads.

    python benchmarks/heldout_shard.py ../shared/data/train/photos-128-00*.tar \\
        ../shared/data/train/scenes-128-000.tar --val-count 256 -o /tmp/heldout.tar
"""

from __future__ import annotations

import argparse
import io
import tarfile

import numpy as np


def main() -> None:
    from PIL import Image

    from tinct.train.data import load_images
    from tinct.train.loop import validation_split

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="the shards the run was trained on, in the same order")
    ap.add_argument("--load-size", type=int, default=128)
    ap.add_argument("--val-count", type=int, default=256)
    ap.add_argument("-o", "--output", required=True, help="tar file to write")
    args = ap.parse_args()
    images = np.asarray(load_images(args.data, load_size=args.load_size))
    val, _ = validation_split(len(images), args.val_count)
    with tarfile.open(args.output, "w") as tar:
        for i, idx in enumerate(val.tolist()):
            buf = io.BytesIO()
            Image.fromarray(images[idx]).save(buf, "JPEG", quality=95)
            info = tarfile.TarInfo(f"{i:06d}.jpg")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
    print(f"wrote {len(val)} held-out images of {len(images)} to {args.output}")


if __name__ == "__main__":
    main()
