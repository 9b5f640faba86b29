"""Video files with PyAV (FFmpeg): probe, frame-exact reading, chunk encoding and lossless joining.

* :func:`probe` opens a file, checks that it holds a decodable video stream and
  builds a frame index (the presentation timestamps of every frame, from a
  demux pass that decodes nothing), so that frame ``i`` always means the same
  picture however the file is read.
* :func:`read_frames` returns frames ``[start, stop)`` as RGB uint8: it seeks
  to the key frame before ``start`` and decodes forward.
* :func:`encode_chunk` encodes a list of RGB frames as H.264 (``yuv420p``, or
  ``yuv444p`` when a side is odd, which 4:2:0 cannot hold) into a small file.
* :func:`in_thread` and :class:`Encoder` run decoding and encoding in their own threads (FFmpeg
  releases the GIL), so they overlap with the work on the frames.
* :func:`join_chunks` remuxes encoded chunks one after another, with the input's
  audio streams copied packet by packet (no re-encoding), into the final file.
* :func:`transcode` maps every frame of a video (decode, map, encode, keep the audio) into a
  new file; :func:`check_output` refuses an output it must not write.

Every failure meant for the user is a :class:`VideoError` naming the file.

References
----------
.. [1] PyAV documentation, https://pyav.basswood-io.com/
.. [2] ITU-T H.264 / x264; FFmpeg formats documentation (stream copy).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from tinct.errors import ImageReadError, ImageWriteError, ParameterError

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".gif"}
OUTPUT_SUFFIXES = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".m4v": "mp4"}
DEFAULT_MAX_FRAME_PIXELS = 40_000_000  # 8K is 33 MP
# x264 options every encode gets. mbtree=0: with the macroblock-tree rate control on, x264 (core 165, as
# PyAV 18 bundles it) gave different bitstreams for the same frames and settings from one call to the next
# inside a busy process (about 1 chunk encode in 8 in the resume test; up to 24 levels apart after
# decoding), so a resumed video did not match an uninterrupted one; with it off, every re-encode of the
# same frames gives the same bytes. Its gain is a few per cent of bitrate at a given crf.
X264_PARAMS = "mbtree=0"
_END = object()


class VideoError(ImageReadError):
    """A video file could not be opened, decoded or written."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    codec: str
    pts: tuple[int, ...] = field(repr=False)  # presentation timestamps, frame order
    time_base: Fraction = Fraction(1, 1)
    audio_streams: int = 0
    size: int = 0
    mtime_ns: int = 0

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps) if self.fps else 0.0


def _av():
    try:
        import av  # noqa: F401
    except ImportError as exc:  # pragma: no cover - av is a dependency
        raise VideoError("video support needs PyAV: pip install av") from exc
    import av

    return av


def _open(path: Path):
    av = _av()
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file")
    try:
        return av.open(str(path), "r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(f"{path}: not a readable video file ({_reason(exc)})") from None


def _reason(exc) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def probe(path, *, max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS) -> VideoInfo:
    """Open ``path``, check it holds video, and index its frames.

    Parameters
    ----------
    path : str or Path
        A video file in any container FFmpeg reads.
    max_pixels : int, optional
        Refuse frames larger than this (width x height).

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoError
        Missing file, not a media file, no video stream, corrupt or empty stream.
    """
    av = _av()
    path = Path(os.fspath(path)).expanduser()
    container = _open(path)
    try:
        fmt = container.format.name or ""
        if fmt.startswith("image2") or fmt.endswith("_pipe"):
            raise VideoError(f"{path}: is a still image ({fmt}), not a video; use tinct colorize for images")
        if not container.streams.video:
            raise VideoError(f"{path}: holds no video stream")
        vs = container.streams.video[0]
        ctx = vs.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: video stream has no frame size (corrupt header?)")
        if max_pixels and width * height > max_pixels:
            raise VideoError(f"{path}: frames are {width}x{height}, more than the {max_pixels} pixel limit")
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        fps = Fraction(rate) if rate else Fraction(25, 1)
        pts: list[int] = []
        try:
            for packet in container.demux(vs):
                if packet.size and packet.pts is not None:
                    pts.append(int(packet.pts))
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: corrupt video stream ({_reason(exc)})") from None
        if not pts:
            raise VideoError(f"{path}: video stream holds no frames")
        pts.sort()
        st = path.stat()
        return VideoInfo(path, width, height, fps, len(pts), ctx.name, tuple(pts), Fraction(vs.time_base),
                         len(container.streams.audio), st.st_size, st.st_mtime_ns)
    finally:
        container.close()


def read_frames(info: VideoInfo, start: int = 0, stop: int | None = None):
    """Yield ``(index, rgb)`` for frames ``start <= index < stop``; ``rgb`` is (H, W, 3) uint8.

    Frame ``i`` is the frame whose timestamp is the ``i``-th smallest (see
    :func:`probe`), so reading a range gives the same pictures as reading the
    whole file.
    """
    av = _av()
    stop = info.frames if stop is None else min(stop, info.frames)
    if not 0 <= start <= stop:
        raise ParameterError(f"start: frame range [{start}, {stop}) is not inside 0..{info.frames}")
    if start == stop:
        return
    index = {p: i for i, p in enumerate(info.pts)}
    container = _open(info.path)
    try:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        if start > 0:
            container.seek(info.pts[start], stream=vs, backward=True, any_frame=False)
        wanted = start
        for frame in container.decode(vs):
            i = index.get(frame.pts)
            if i is None or i < wanted:
                continue
            if i > wanted:
                raise VideoError(f"{info.path}: frame {wanted} could not be decoded (corrupt stream?)")
            rgb = frame.to_ndarray(format="rgb24")
            if rgb.shape[:2] != (info.height, info.width):
                raise VideoError(f"{info.path}: frame {i} is {rgb.shape[1]}x{rgb.shape[0]}; size changes mid-stream "
                                 "are not supported")
            yield i, rgb
            wanted += 1
            if wanted >= stop:
                return
    except av.error.FFmpegError as exc:
        raise VideoError(f"{info.path}: corrupt video stream near frame {wanted} ({_reason(exc)})") from None
    finally:
        container.close()
    if wanted < stop:
        raise VideoError(f"{info.path}: stream ended at frame {wanted}, index says {stop} (truncated file?)")


def encode_chunk(frames, path, fps: Fraction, *, crf: int = 18, preset: str = "veryfast") -> int:
    """Encode RGB uint8 frames as H.264 into ``path`` (written to a temporary name, then renamed).

    Returns the number of frames written. Every chunk of one video is encoded
    with the same settings so that :func:`join_chunks` can copy them into one
    stream, and the same frames always give the same bytes (:data:`X264_PARAMS`),
    so a chunk encoded again on resume matches the one an uninterrupted run writes.
    """
    av = _av()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = None
            for rgb in frames:
                if stream is None:
                    h, w = rgb.shape[:2]
                    stream = out.add_stream("libx264", rate=fps)
                    stream.width, stream.height = w, h
                    stream.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
                    stream.options = {"crf": str(crf), "preset": preset, "x264-params": X264_PARAMS}
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = count
                frame.time_base = Fraction(1) / Fraction(fps)
                out.mux(stream.encode(frame))
                count += 1
            if stream is not None:
                out.mux(stream.encode(None))
        if count == 0:
            raise ParameterError("frames: nothing to encode")
        os.replace(tmp, path)
    except av.error.FFmpegError as exc:
        raise ImageWriteError(f"{path}: could not encode video ({_reason(exc)})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def join_chunks(chunks, dst, *, audio_from: Path | None = None) -> None:
    """Copy the video packets of ``chunks`` (in order) and the audio of ``audio_from`` into ``dst``.

    Nothing is re-encoded: packets are remuxed with shifted timestamps. The file
    is written under a temporary name in ``dst``'s folder and renamed at the
    end, so ``dst`` is either the old file or the complete new one.

    Raises
    ------
    ImageWriteError
        Unsupported output container, or the container refuses a stream (e.g. an
        audio codec MP4 cannot hold: choose .mkv).
    """
    av = _av()
    dst = Path(dst)
    fmt = OUTPUT_SUFFIXES.get(dst.suffix.lower())
    if fmt is None:
        raise ImageWriteError(f"{dst}: unsupported video output type; use one of {', '.join(sorted(OUTPUT_SUFFIXES))}")
    chunks = [Path(c) for c in chunks]
    if not chunks:
        raise ParameterError("chunks: nothing to join")
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}{dst.suffix}")
    inputs = []
    try:
        with av.open(str(tmp), "w", format=fmt) as out:
            first = av.open(str(chunks[0]))
            inputs.append(first)
            v_out = out.add_stream_from_template(first.streams.video[0])
            audio = []
            if audio_from is not None:
                src = av.open(str(audio_from))
                inputs.append(src)
                for a in src.streams.audio:
                    try:
                        audio.append((a, out.add_stream_from_template(a)))
                    except (av.error.FFmpegError, ValueError) as exc:
                        raise ImageWriteError(f"{dst}: cannot hold the {a.codec_context.name} audio of {audio_from} "
                                              f"({_reason(exc)}); try a .mkv output") from None
            offset = 0
            for path in chunks:
                c = first if path == chunks[0] and offset == 0 else av.open(str(path))
                if c is not first:
                    inputs.append(c)
                vs = c.streams.video[0]
                end = offset
                for packet in c.demux(vs):
                    if packet.dts is None and packet.pts is None:
                        continue
                    dur = packet.duration or 0
                    if packet.pts is not None:
                        end = max(end, packet.pts + offset + dur)
                        packet.pts += offset
                    if packet.dts is not None:
                        packet.dts += offset
                    packet.stream = v_out
                    out.mux(packet)
                offset = end
                if c is not first:
                    c.close()
                    inputs.remove(c)
            if audio:
                targets = {a_in.index: a_out for a_in, a_out in audio}
                for packet in inputs[1].demux(*[a_in for a_in, _ in audio]):
                    if packet.dts is None:
                        continue
                    packet.stream = targets[packet.stream.index]
                    out.mux(packet)
        os.replace(tmp, dst)
    except av.error.FFmpegError as exc:
        raise ImageWriteError(f"{dst}: could not write video ({_reason(exc)})") from None
    finally:
        for c in inputs:
            c.close()
        if tmp.exists():
            tmp.unlink()


def check_output(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse an output that is the input, a folder, exists (without ``overwrite``) or has no folder."""
    from tinct.io.files import check_new_file

    if dst.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ParameterError(f"output: {dst.name}: use one of {', '.join(sorted(OUTPUT_SUFFIXES))}")
    check_new_file(dst, overwrite=overwrite, source=src)


def transcode(info: VideoInfo, dst: Path, frame_map: Callable[[int, np.ndarray], np.ndarray], *, crf: int = 18,
              preset: str = "veryfast", progress: Callable[[int, int], None] | None = None) -> int:
    """Decode ``info``'s frames (own thread), map each with ``frame_map(i, rgb)``, encode (own thread), add audio.

    ``dst`` is written under a temporary name and renamed; returns the number of frames.
    """
    from tinct.io.files import temporary_beside

    with temporary_beside(dst, "-video.mp4") as tmp:
        enc = Encoder(tmp, info.fps, crf=crf, preset=preset)
        done = 0
        try:
            for i, rgb in in_thread(read_frames(info)):
                enc.put(frame_map(i, rgb))
                done += 1
                if progress is not None:
                    progress(done, info.frames)
        except BaseException:
            enc.abort()
            raise
        written = enc.close()
        if written != info.frames:
            raise ImageWriteError(f"{dst}: encoded {written} frames of {info.frames}")
        join_chunks([tmp], dst, audio_from=info.path if info.audio_streams else None)
    return done


def in_thread(items: Iterable, maxsize: int = 8) -> Iterator:
    """Iterate ``items`` in a background thread (decoding, say), handing them over through a bounded queue.

    An exception in the thread is raised in the consumer; the thread stops when the consumer does.
    """
    q: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def put(msg) -> bool:
        while not stop.is_set():  # never blocks for good: the consumer may have gone
            try:
                q.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    t = threading.Thread(target=produce, daemon=True, name="tinct-video-producer")
    t.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


class Encoder:
    """:func:`encode_chunk` running in its own thread, fed frame by frame.

    ``put`` each frame, then ``close()`` (returns the frame count, or raises the encoder's
    error) or, when the producer failed, ``abort()`` (drops the partial file).
    """

    def __init__(self, path, fps, *, crf: int = 18, preset: str = "veryfast"):
        self.q: queue.Queue = queue.Queue(8)
        self.result: list = []
        self.thread = threading.Thread(target=self._run, args=(path, fps, crf, preset), daemon=True,
                                       name="tinct-video-encoder")
        self.thread.start()

    def _frames(self):
        while True:
            item = self.q.get()
            if item is _END:
                self.ended = True
                return
            yield item

    def _run(self, path, fps, crf, preset):
        self.ended = False
        try:
            self.result.append(encode_chunk(self._frames(), path, fps, crf=crf, preset=preset))
        except BaseException as exc:  # raised in the caller by close()
            self.result.append(exc)
        while not self.ended:  # drain up to the end mark, which close() or abort() always sends
            self.ended = self.q.get() is _END

    def put(self, frame: np.ndarray) -> None:
        if self.result and isinstance(self.result[0], BaseException):  # the encoder failed: stop now
            raise self.result[0]
        self.q.put(frame)

    def _finish(self):
        self.q.put(_END)
        self.thread.join()

    def close(self) -> int:
        self._finish()
        out = self.result[0]
        if isinstance(out, BaseException):
            raise out
        return out

    def abort(self) -> None:
        self._finish()
