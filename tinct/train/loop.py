"""The training loop behind ``tinct train``: resumable, logged, the same on CPU and GPU.

One step: a batch of random resized crops is made on the device from the
in-memory images (:mod:`tinct.train.data`), converted to Lab, optionally given
random colour hints, and the network predicts bin logits at 1/4 resolution.
The loss is the class-rebalanced soft cross-entropy (ECCV16 [3]_) plus
``smooth`` times the intensity-weighted neighbourhood term of Tunuguntla & Bhat [4]_, or plain MSE
on the predicted mean ab (``loss='mse'``, the baseline). AdamW, linear warm-up
then cosine decay, gradient clipping, bf16 autocast on CUDA.

Checkpoints (``ckpt-last.pt``, written atomically every ``ckpt_every`` steps
and at the end) hold the model, optimizer, scheduler, RNG states, the ab prior
and the step. Every random draw of step ``t`` comes from a generator seeded by
``(seed, t)``, so resuming from a checkpoint continues bit-identically on the
CPU (CUDA kernels with atomics are not bit-reproducible, but resume exactly in
distribution). Metrics go to ``log.jsonl``, one JSON object per line; every
``eval_every`` steps a validation contact sheet (gray | prediction | truth) is
written as ``sheet-<step>.png``.

References
----------
.. [1] I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (AdamW).
.. [2] I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.
.. [3] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [4] S. Tunuguntla, A. Bhat, "Image Colorization", CS 766 project, University of Wisconsin, 2017.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinct.errors import ParameterError, TinctError
from tinct.models.weights import DEFAULT_TEMPERATURE

CKPT_NAME = "ckpt-last.pt"


@dataclass
class TrainConfig:
    """Every knob of a training run (also stored in each checkpoint)."""

    data: list = field(default_factory=list)
    out: str = "runs/tinctnet"
    steps: int = 20000
    batch_size: int = 64
    crop: int = 128
    load_size: int = 128
    limit: int | None = None
    val_count: int = 64
    bins: str = "313"
    width: int = 32
    hints: bool = True
    hint_p_none: float = 0.5
    hint_style: str = "random"
    hint_recolour: float = 0.0
    input_size: int = 256
    loss: str = "ce"
    rebalance: float = 0.5
    smooth: float = 1.0
    smooth_sigma: float = 5.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    min_lr_ratio: float = 0.02
    clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    ckpt_every: int = 1000
    eval_every: int = 1000
    log_every: int = 50
    max_minutes: float | None = None
    prior_images: int = 4000
    resume: str | None = None
    init: str | None = None

    def validate(self) -> None:
        def need(cond, msg):
            if not cond:
                raise ParameterError(msg)

        need(self.loss in ("ce", "mse"), f"loss: expected 'ce' or 'mse', got {self.loss!r}")
        need(str(self.bins) in ("313", "484"), f"bins: expected '313' or '484', got {self.bins!r}")
        for name in ("steps", "batch_size", "ckpt_every", "eval_every", "log_every"):
            v = getattr(self, name)
            need(isinstance(v, int) and v >= 1, f"{name}: must be a positive integer, got {v!r}")
        need(self.crop % 16 == 0 and self.crop >= 32, f"crop: must be a multiple of 16 and >= 32, got {self.crop}")
        need(0.0 < self.rebalance <= 1.0, f"rebalance: lambda must be in (0, 1], got {self.rebalance}")
        need(self.smooth >= 0.0, f"smooth: must be >= 0, got {self.smooth}")
        need(self.smooth_sigma > 0.0, f"smooth_sigma: must be > 0, got {self.smooth_sigma}")
        need(self.lr > 0.0, f"lr: must be > 0, got {self.lr}")
        need(0.0 <= self.hint_p_none <= 1.0, f"hint_p_none: must be in [0, 1], got {self.hint_p_none}")
        need(self.hint_style in ("random", "clicks", "mixed"),
             f"hint_style: expected random, clicks or mixed, got {self.hint_style!r}")
        need(0.0 <= self.hint_recolour <= 1.0, f"hint_recolour: must be in [0, 1], got {self.hint_recolour}")
        need(self.clip > 0.0, f"clip: must be > 0, got {self.clip}")
        need(self.val_count >= 0, f"val_count: must be >= 0, got {self.val_count}")
        need(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             f"device: expected auto, cpu or cuda[:N], got {self.device!r}")
        need(bool(self.data), "data: give at least one tar shard or image folder")


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError("device: CUDA was asked for but is not available")
    return torch.device(name)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


class _Schedule:
    """A picklable-free LambdaLR factor (LambdaLR stores only its step in the checkpoint)."""

    def __init__(self, cfg: TrainConfig):
        self.warmup, self.total, self.min_ratio = cfg.warmup, cfg.steps, cfg.min_lr_ratio

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.warmup, self.total, self.min_ratio)


def _atomic_save(obj, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rng_state():
    import torch

    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def compute_prior(images, bins: str, device, out_size: int = 32, sigma: float = 5.0):
    """Smoothed empirical ab-bin distribution of ``images`` (uint8 (M, S, S, 3) tensor), at ``out_size``."""
    import torch

    from tinct.train.data import centre_crop
    from tinct.train.lab import rgb_to_lab
    from tinct.train.losses import ab_prior, centres_tensor

    centres = centres_tensor(bins, device)
    counts = torch.zeros(len(centres), dtype=torch.float64, device=device)
    for start in range(0, images.shape[0], 256):
        lab = rgb_to_lab(centre_crop(images[start : start + 256], out_size))
        ab = lab[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2)
        nearest = torch.cdist(ab, centres).argmin(1)
        counts += torch.bincount(nearest, minlength=len(centres)).double()
    return ab_prior(counts.cpu().numpy(), centres.cpu().numpy(), sigma=sigma)


def validation_split(m: int, val_count: int):
    """(validation, training) indices of ``m`` loaded images: a fixed permutation, the same in every run.

    The held-out images are what calibration and ablations of a model may be tuned on without touching
    the evaluation sets or the images the model learnt from (``benchmarks/heldout_shard.py`` writes them).
    """
    import torch

    split = torch.randperm(m, generator=torch.Generator().manual_seed(12345))
    n_val = min(val_count, max(0, m - 1))
    return split[:n_val], split[n_val:]


class Trainer:
    """Holds the data, model, optimizer and schedule of one run; :meth:`run` trains to ``cfg.steps``."""

    def __init__(self, cfg: TrainConfig, images=None, log=print):
        import torch

        from tinct.models.tinctnet import build
        from tinct.train.data import load_images
        from tinct.train.losses import centres_tensor, rebalance_weights

        cfg.validate()
        self.cfg, self.log = cfg, log
        self.device = resolve_device(cfg.device)
        self.amp = bool(cfg.amp) and self.device.type == "cuda"
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % (2**32))
        random.seed(cfg.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        t0 = time.time()
        if images is None:
            images = load_images(cfg.data, load_size=cfg.load_size, limit=cfg.limit)
        all_images = torch.as_tensor(np.asarray(images), dtype=torch.uint8)
        if all_images.ndim != 4 or all_images.shape[-1] != 3:
            raise ParameterError(f"data: expected (M, S, S, 3) uint8 images, got shape {tuple(all_images.shape)}")
        m = all_images.shape[0]
        val, train = validation_split(m, cfg.val_count)
        n_val = len(val)
        self.val_images = all_images[val].to(self.device)
        self.train_images = all_images[train].to(self.device)
        self.n_train = int(self.train_images.shape[0])
        if self.n_train < 1:
            raise ParameterError("data: need at least one training image")
        self.log(f"data: {m} images ({self.n_train} train, {n_val} val) of {cfg.load_size} px "
                 f"decoded in {time.time() - t0:.1f} s")

        self.model = build(bins=cfg.bins, width=cfg.width, hints=cfg.hints, input_size=cfg.input_size)
        self.model.to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        decay = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim <= 1]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr, betas=(0.9, 0.99),
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _Schedule(cfg))
        self.step = 0
        self.centres = centres_tensor(cfg.bins, self.device)

        resume = cfg.resume
        if resume == "auto":
            resume = str(self.out / CKPT_NAME) if (self.out / CKPT_NAME).exists() else None
        if resume:
            # A run that already has its own checkpoint goes on from it; --init only seeds a fresh run.
            self._load(resume)
        else:
            if cfg.init:
                self._init_weights(cfg.init)
            out_size = cfg.crop // self.model.output_stride
            sample = self.train_images[: cfg.prior_images]
            self.prior = compute_prior(sample, cfg.bins, self.device, out_size=out_size)
        self.class_weights = torch.as_tensor(rebalance_weights(self.prior, cfg.rebalance), device=self.device)
        self._epoch_cache = (None, None)

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict:
        cfg = {k: v for k, v in asdict(self.cfg).items() if k not in ("resume", "init")}
        return {
            "format": "tinct-train-ckpt-1",
            "config": cfg,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "rng": _rng_state(),
            "prior": np.asarray(self.prior, dtype=np.float64),
            "n_train": self.n_train,
        }

    def save(self, path=None) -> Path:
        path = Path(path) if path else self.out / CKPT_NAME
        _atomic_save(self.state(), path)
        return path

    def _read_checkpoint(self, path, what: str) -> dict:
        """A training checkpoint whose network has this run's shapes (bins, width, hints)."""
        import torch

        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            raise TinctError(f"{what}: checkpoint not found: {path}") from None
        if not isinstance(ck, dict) or ck.get("format") != "tinct-train-ckpt-1":
            raise TinctError(f"{what}: {path} is not a tinct training checkpoint")
        for key in ("bins", "width", "hints"):  # what makes the network's shapes
            if ck["config"][key] != getattr(self.cfg, key):
                raise ParameterError(f"{what}: checkpoint has {key}={ck['config'][key]!r}, "
                                     f"run asks {getattr(self.cfg, key)!r}")
        return ck

    def _load(self, path) -> None:
        ck = self._read_checkpoint(path, "resume")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        _set_rng_state(ck["rng"])
        self.step = int(ck["step"])
        # The schedule follows this run's --steps/--warmup (LambdaLR restores its callable's state from the file).
        self.sched.lr_lambdas[0] = _Schedule(self.cfg)
        self.sched.base_lrs = [self.cfg.lr for _ in self.sched.base_lrs]
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * self.sched.lr_lambdas[0](self.step)
        self.sched._last_lr = [g["lr"] for g in self.opt.param_groups]
        self.prior = np.asarray(ck["prior"])
        if ck.get("n_train") != self.n_train:
            self.log(f"resume: data differ from the checkpoint's ({ck.get('n_train')} -> {self.n_train} images)")
        self.log(f"resume: {path} at step {self.step}")

    def _init_weights(self, path) -> None:
        """Start from a network's weights, with a fresh optimizer, schedule and ab prior.

        ``path`` is a training checkpoint or a shipped weights file (``tinct/models/weights/*.pt``), so a new
        model can be fine-tuned from the released one when its training run is not at hand.
        """
        import torch

        from tinct.models.tinctnet import ARCH

        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            raise TinctError(f"init: checkpoint not found: {path}") from None
        if isinstance(blob, dict) and blob.get("arch") == ARCH:
            for key in ("bins", "width", "hints"):
                if blob["config"][key] != getattr(self.cfg, key):
                    raise ParameterError(f"init: weights have {key}={blob['config'][key]!r}, "
                                         f"run asks {getattr(self.cfg, key)!r}")
            self.model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                        for k, v in blob["state_dict"].items()})
            self.log(f"init: network weights from the weights file {path}; optimizer and schedule start fresh")
            return
        ck = self._read_checkpoint(path, "init")
        self.model.load_state_dict(ck["model"])
        self.log(f"init: network weights from {path} (its step {ck['step']}); optimizer and schedule start fresh")

    # -- batches --------------------------------------------------------------------------------
    def batch_indices(self, step: int):
        from tinct.train.data import epoch_order

        bs = self.cfg.batch_size
        per_epoch = max(1, self.n_train // bs) if self.n_train >= bs else 1
        epoch, pos = divmod(step, per_epoch)
        if self._epoch_cache[0] != epoch:
            self._epoch_cache = (epoch, epoch_order(self.n_train, self.cfg.seed, epoch, self.device))
        order = self._epoch_cache[1]
        if self.n_train >= bs:
            return order[pos * bs : (pos + 1) * bs]
        return order.repeat(math.ceil(bs / self.n_train))[:bs]

    def make_batch(self, step: int):
        """(L, hint_ab, hint_mask, ab, L) of one step (the last two at 1/4); a function of (data, seed, step)."""
        from torch.nn import functional as F

        from tinct.train.data import random_resized_crop, recolour_objects, sample_hints, step_generator
        from tinct.train.lab import rgb_to_lab

        gen = step_generator(self.cfg.seed, step, self.device)
        rgb = random_resized_crop(self.train_images[self.batch_indices(step)], self.cfg.crop, gen)
        lab = rgb_to_lab(rgb)
        lum, ab = lab[:, :1], lab[:, 1:]
        if self.cfg.hints:
            hint_ab, hint_mask = sample_hints(ab, gen, p_none=self.cfg.hint_p_none, style=self.cfg.hint_style)
            if self.cfg.hint_recolour > 0:
                ab, hint_ab, hint_mask = recolour_objects(lum, ab, hint_ab, hint_mask, gen, self.cfg.hint_recolour)
        else:
            hint_ab = hint_mask = None
        s = self.model.output_stride
        ab_small = F.avg_pool2d(ab, s)
        l_small = F.avg_pool2d(lum, s)
        return lum, hint_ab, hint_mask, ab_small, l_small

    def losses(self, logits, ab_small, l_small):
        from tinct.train.losses import expected_ab, mse, smoothness, soft_encode, weighted_ce

        out = {}
        if self.cfg.loss == "ce":
            idx, wts = soft_encode(ab_small, self.centres)
            out["ce"] = weighted_ce(logits, idx, wts, self.class_weights)
            total = out["ce"]
        else:
            out["mse"] = mse(expected_ab(logits, self.centres), ab_small)
            total = out["mse"]
        if self.cfg.smooth > 0:
            out["smooth"] = smoothness(expected_ab(logits, self.centres), l_small, self.cfg.smooth_sigma)
            total = total + self.cfg.smooth * out["smooth"]
        out["loss"] = total
        return out

    def train_step(self):
        import torch

        self.model.train()
        lum, hint_ab, hint_mask, ab_small, l_small = self.make_batch(self.step)
        if self.device.type == "cuda":
            lum = lum.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.model(lum, hint_ab, hint_mask)
        parts = self.losses(logits.float(), ab_small, l_small)
        self.opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.opt.step()
        self.sched.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in parts.items()} | {"grad_norm": float(gnorm)}

    # -- validation -----------------------------------------------------------------------------
    def evaluate(self, sheet: bool = True) -> dict:
        import torch
        from torch.nn import functional as F

        from tinct.train.data import centre_crop
        from tinct.train.lab import lab_to_rgb, rgb_to_lab
        from tinct.train.losses import expected_ab, soft_encode, weighted_ce

        if self.val_images.shape[0] == 0:
            return {}
        self.model.eval()
        ce_sum = err_sum = n = 0.0
        previews = []
        with torch.no_grad():
            for start in range(0, self.val_images.shape[0], 64):
                lab = rgb_to_lab(centre_crop(self.val_images[start : start + 64], self.cfg.crop))
                lum, ab = lab[:, :1], lab[:, 1:]
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    logits = self.model(lum).float()
                s = self.model.output_stride
                idx, wts = soft_encode(F.avg_pool2d(ab, s), self.centres)
                ce_sum += float(weighted_ce(logits, idx, wts)) * lum.shape[0]
                pred = F.interpolate(expected_ab(logits, self.centres, DEFAULT_TEMPERATURE), size=lum.shape[-2:],
                                     mode="bilinear", align_corners=False)
                err_sum += float(((pred - ab) ** 2).sum(1).mean()) * lum.shape[0]
                n += lum.shape[0]
                if sheet and start == 0:
                    k = min(8, lum.shape[0])
                    gray = lab_to_rgb(torch.cat([lum[:k], torch.zeros_like(ab[:k])], 1))
                    col = lab_to_rgb(torch.cat([lum[:k], pred[:k]], 1))
                    true = lab_to_rgb(lab[:k])
                    previews = [gray, col, true]
        metrics = {"val_ce": ce_sum / n, "val_ab_rmse": math.sqrt(err_sum / n)}
        if previews:
            self._write_sheet(previews)
        return metrics

    def _write_sheet(self, rows) -> None:
        import torch

        grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # (3, 3*H, k*W)
        arr = (grid.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        path = self.out / f"sheet-{self.step:07d}.png"
        try:
            from PIL import Image

            Image.fromarray(arr).save(path)
        except ImportError:  # pragma: no cover - bare machines
            np.save(path.with_suffix(".npy"), arr)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        log_path = self.out / "log.jsonl"
        t_start = time.time()
        t_last, step_last = t_start, self.step
        last = {}
        with open(log_path, "a", encoding="utf-8") as logf:
            def write(rec):
                logf.write(json.dumps(rec) + "\n")
                logf.flush()

            write({"event": "start", "step": self.step, "device": str(self.device), "amp": self.amp,
                   "n_train": self.n_train, "config": {k: v for k, v in asdict(cfg).items()}})
            while self.step < cfg.steps:
                last = self.train_step()
                if not math.isfinite(last["loss"]):
                    self.save(self.out / "ckpt-nonfinite.pt")
                    raise TinctError(f"training diverged at step {self.step} (loss {last['loss']}); lower --lr")
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    now = time.time()
                    rec = {"step": self.step, "lr": self.sched.get_last_lr()[0], **last,
                           "img_per_s": (self.step - step_last) * cfg.batch_size / max(now - t_last, 1e-9),
                           "elapsed_s": now - t_start}
                    t_last, step_last = now, self.step
                    write(rec)
                    self.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
                out_of_time = cfg.max_minutes is not None and time.time() - t_start > 60 * cfg.max_minutes
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps or out_of_time:
                    metrics = self.evaluate()
                    if metrics:
                        write({"step": self.step, **metrics})
                        self.log(f"eval step={self.step} " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps or out_of_time:
                    self.save()
                if out_of_time:
                    write({"event": "time limit", "step": self.step})
                    self.log(f"time limit reached at step {self.step}; checkpoint saved, resume with --resume auto")
                    break
            write({"event": "end", "step": self.step, "elapsed_s": time.time() - t_start})
        return {"step": self.step, **last}


def train(cfg: TrainConfig, images=None, log=print) -> dict:
    """Train (or resume) according to ``cfg``; returns the last step's losses."""
    return Trainer(cfg, images=images, log=log).run()


def export_weights(ckpt_path, weights_path, half: bool = True, meta: dict | None = None,
                   logit_adjustment: float = 0.0) -> dict:
    """Write the inference weights file (config inside, fp16 by default) of a training checkpoint.

    ``logit_adjustment`` (alpha) subtracts ``alpha * log w_q`` from the output logits, ``w_q`` being the
    class-rebalancing weights the model was trained with, by folding it into the head's bias. Rebalanced
    cross-entropy teaches the network roughly ``w_q p(q | x)`` instead of ``p(q | x)``; alpha = 1 undoes
    that fully (muted, gray-leaning colours), 0 keeps it (vivid colours, with rare colours guessed where
    the network is unsure), values between trade one for the other. This is logit adjustment for
    long-tailed labels (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021) run in
    reverse. Weights trained with MSE have no rebalancing to undo.

    Returns the metadata written, including the SHA-256 of the file.
    """
    import hashlib

    import torch

    from tinct.models.tinctnet import build, save

    try:
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise TinctError(f"export: checkpoint not found: {ckpt_path}") from None
    c = ck["config"]
    model = build(bins=c["bins"], width=c["width"], hints=c["hints"], input_size=c["input_size"])
    model.load_state_dict(ck["model"])
    info = {"steps": ck["step"], "batch_size": c["batch_size"], "crop": c["crop"], "loss": c["loss"],
            "rebalance": c["rebalance"], "smooth": c["smooth"], "data": [Path(d).name for d in c["data"]]}
    if logit_adjustment:
        from tinct.train.losses import rebalance_weights

        if c["loss"] != "ce":
            raise ParameterError("logit_adjustment: only models trained with rebalanced cross-entropy have one")
        log_w = np.log(rebalance_weights(np.asarray(ck["prior"]), c["rebalance"]))
        with torch.no_grad():
            model.head.bias -= float(logit_adjustment) * torch.as_tensor(log_w, dtype=model.head.bias.dtype)
        info["logit_adjustment"] = float(logit_adjustment)
    info.update(meta or {})
    save(model, weights_path, meta=info, half=half)
    info["sha256"] = hashlib.sha256(Path(weights_path).read_bytes()).hexdigest()
    info["bytes"] = Path(weights_path).stat().st_size
    return info


def compact_checkpoint(src, dst) -> None:
    """A smaller copy of a checkpoint for moving between machines: optimizer moments stored as bfloat16.

    Loading casts them back to float32 (``Optimizer.load_state_dict``), so a resume from the compact copy
    is exact up to the rounding of the moments.
    """
    import torch

    ck = torch.load(src, map_location="cpu", weights_only=False)
    for st in ck["optimizer"]["state"].values():
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                st[k] = st[k].to(torch.bfloat16)
    _atomic_save(ck, Path(dst))
