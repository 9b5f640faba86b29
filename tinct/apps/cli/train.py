"""``tinct train``: train (or resume) tinct's colorization network, or export its weights.

Examples
--------
Train on the shards, resuming automatically from ``runs/tinctnet/ckpt-last.pt``::

    tinct train ../shared/data/train/photos-128-00*.tar --out runs/tinctnet --steps 20000 --resume auto

Export the fp16 weights file that ``tinct colorize`` loads::

    tinct train --export runs/tinctnet/ckpt-last.pt --weights-out tinct/models/weights/tinctnet-v2.pt
"""

from __future__ import annotations

import json

from tinct.errors import ParameterError


def _bool(text: str) -> bool:
    t = text.lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ParameterError(f"expected yes/no, got {text!r}")


def add_parser(subparsers) -> None:
    from tinct.train.loop import TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train tinct's own colorization network (CPU or GPU, resumable)",
        description="Train the TinctNet colorization model on tar shards or image folders. The same command runs "
        "on CPU and GPU; checkpoints resume exactly; metrics go to OUT/log.jsonl and contact sheets to OUT.",
    )
    p.add_argument("data", nargs="*", help="tar shards, image folders or glob patterns")
    p.add_argument("--out", default=d.out, help="run folder (checkpoints, log.jsonl, sheets) [%(default)s]")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps (cosine schedule length)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per optimizer step [%(default)s]")
    p.add_argument("--crop", type=int, default=d.crop, help="training crop side in pixels [%(default)s]")
    p.add_argument("--load-size", type=int, default=d.load_size, help="side images are stored at [%(default)s]")
    p.add_argument("--limit", type=int, default=None, help="at most this many images per source")
    p.add_argument("--val-count", type=int, default=d.val_count, help="held-out images for validation")
    p.add_argument("--bins", choices=["313", "484"], default=d.bins,
                   help="ab quantization: the 313 in-gamut bins of Zhang et al. or a 22 x 22 grid [%(default)s]")
    p.add_argument("--width", type=int, default=d.width, help="channels of the first stage [%(default)s]")
    p.add_argument("--hints", type=_bool, default=d.hints, help="train with random colour hints (yes/no)")
    p.add_argument("--hint-p-none", type=float, default=d.hint_p_none, help="share of images without hints")
    p.add_argument("--hint-recolour", type=float, default=d.hint_recolour,
                   help="share of images whose clicked object is given a new colour, so hints learn to override "
                        "the network's guess (0 = hints only ever reveal true colours)")
    p.add_argument("--hint-style", choices=["random", "clicks", "mixed"], default=d.hint_style,
                   help="where hints go: random points (SIGGRAPH17), clicks inside uniform regions revealing the "
                        "object's colour, or a mix [%(default)s]")
    p.add_argument("--input-size", type=int, default=d.input_size, help="inference input side stored with weights")
    p.add_argument("--loss", choices=["ce", "mse"], default=d.loss, help="rebalanced cross-entropy or MSE baseline")
    p.add_argument("--rebalance", type=float, default=d.rebalance, help="lambda of class rebalancing, 1 = off")
    p.add_argument("--smooth", type=float, default=d.smooth,
                   help="weight of the L-weighted smoothness term of Tunuguntla & Bhat (2017)")
    p.add_argument("--smooth-sigma", type=float, default=d.smooth_sigma, help="L sigma of the smoothness weights")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate of AdamW [%(default)s]")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="AdamW weight decay on weights (not biases or norms) [%(default)s]")
    p.add_argument("--warmup", type=int, default=d.warmup,
                   help="steps of linear warm-up before the cosine decay [%(default)s]")
    p.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clipping")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="seed of every random draw (crops, hints, order); a step's draws depend only on it [%(default)s]")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda[:N] [%(default)s]")
    p.add_argument("--amp", type=_bool, default=d.amp, help="bf16 autocast on CUDA (yes/no)")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every,
                   help="write OUT/ckpt-last.pt every this many steps [%(default)s]")
    p.add_argument("--eval-every", type=int, default=d.eval_every,
                   help="validate and write a contact sheet every this many steps [%(default)s]")
    p.add_argument("--log-every", type=int, default=d.log_every,
                   help="append losses and speed to OUT/log.jsonl every this many steps [%(default)s]")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--prior-images", type=int, default=d.prior_images, help="images for the ab histogram")
    p.add_argument("--resume", default=None, help="checkpoint to resume from, or 'auto' (OUT/ckpt-last.pt if any)")
    p.add_argument("--init", default=None,
                   help="training checkpoint whose network weights start this run (fresh optimizer and schedule)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--export", metavar="CKPT", default=None, help="export the weights of CKPT instead of training")
    p.add_argument("--weights-out", default=None, help="weights file to write with --export")
    p.add_argument("--logit-adjustment", type=float, default=0.0, metavar="ALPHA",
                   help="with --export: subtract ALPHA x log(rebalancing weight) from the logits (0 = none, 1 = full)")
    p.add_argument("--fp32", action="store_true", help="export float32 instead of float16 weights")
    p.set_defaults(func=run)


def run(args) -> int:
    from tinct.registry import require_extra

    require_extra("cnn", "tinct train")
    from tinct.train.loop import TrainConfig, export_weights, train

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.export:
        if not args.weights_out:
            raise ParameterError("--weights-out: required with --export")
        info = export_weights(args.export, args.weights_out, half=not args.fp32,
                              logit_adjustment=args.logit_adjustment)
        print(json.dumps(info, indent=1))
        return 0
    cfg = TrainConfig(
        data=list(args.data), out=args.out, steps=args.steps, batch_size=args.batch_size, crop=args.crop,
        load_size=args.load_size, limit=args.limit, val_count=args.val_count, bins=args.bins, width=args.width,
        hints=args.hints, hint_p_none=args.hint_p_none, hint_style=args.hint_style,
        hint_recolour=args.hint_recolour, input_size=args.input_size, loss=args.loss,
        rebalance=args.rebalance, smooth=args.smooth, smooth_sigma=args.smooth_sigma, lr=args.lr,
        weight_decay=args.weight_decay, warmup=args.warmup, clip=args.clip, seed=args.seed, device=args.device,
        amp=args.amp, ckpt_every=args.ckpt_every, eval_every=args.eval_every, log_every=args.log_every,
        max_minutes=args.max_minutes, prior_images=args.prior_images, resume=args.resume,
        init=args.init,
    )
    result = train(cfg)
    print(json.dumps(result))
    return 0
