"""Small synthetic video clips for the tests (written with PyAV; no data files needed)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def texture(seed: int, h: int, w: int, mean: float) -> np.ndarray:
    """A smooth random gray texture, twice the frame size so it can be panned."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, (h * 2 // 8 + 2, w * 2 // 8 + 2)).astype(np.float32)
    big = cv2.resize(base, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
    big = (big - big.mean()) / (big.std() + 1e-6)
    return np.clip(mean + 40 * big, 0, 255)


def frames(n: int = 24, h: int = 48, w: int = 64, cut_at: int | None = None) -> list[np.ndarray]:
    """Gray RGB uint8 frames of a texture panning 1 px per frame; a new darker scene from ``cut_at``."""
    scenes = [texture(1, h, w, 150.0), texture(2, h, w, 70.0)]
    out = []
    for i in range(n):
        s = 1 if cut_at is not None and i >= cut_at else 0
        g = scenes[s][5:5 + h, i % w: i % w + w]
        out.append(np.repeat(g.astype(np.uint8)[..., None], 3, axis=2))
    return out


def write_clip(path, rgb_frames, fps: int = 25, audio: bool = False) -> None:
    """Encode frames as H.264 (yuv444p keeps gray exact-ish), optionally with an AAC sine track."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.height, vs.width = rgb_frames[0].shape[:2]
        vs.pix_fmt = "yuv444p"
        vs.options = {"crf": "10", "preset": "ultrafast"}
        a_s = None
        if audio:
            a_s = out.add_stream("aac", rate=22050)
            a_s.layout = "mono"
        for i, f in enumerate(rgb_frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if a_s is not None:
            n = int(22050 * len(rgb_frames) / fps)
            t = np.arange(n) / 22050.0
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            step = 1024
            for k in range(0, n, step):
                af = av.AudioFrame.from_ndarray(samples[:, k:k + step].copy(), format="fltp", layout="mono")
                af.sample_rate = 22050
                af.pts = k
                af.time_base = Fraction(1, 22050)
                out.mux(a_s.encode(af))
            out.mux(a_s.encode(None))
