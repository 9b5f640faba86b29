"""One pipeline from inputs to a written result, shared by every front end.

A :class:`Job` is a registered method, its named inputs (a reference image, masks, scribbles, colour
hints, regions, label maps: whatever the method declares with :class:`tinct.registry.Input`), its
parameters, a post-processing recipe and the output rules. :func:`make_job` resolves and checks it
once (method choice, inputs read and checked, parameters validated, the pixel limit); then
:func:`run_array` runs it on pixels and :func:`run_file` on a file: read, check sizes, run,
post-process, write atomically, and return the per-file record that ``--json`` prints.

The command line, the web service's workers, Dask batch tasks, ``tinct demo`` and ``tinct evaluate``
all go through here, so an input added to a method (colour hints, say) is written once: declare it
on the method, and every front end passes it by its name.

Decided here and nowhere else:

* which method runs when none is named (:data:`DEFAULT_METHODS`) and the switch from ``auto`` to
  ``exemplar`` when a reference is given, or to ``scribble`` when scribbles are;
* input names: front ends use each input's *role* (``mask`` is the image's mask for a colorization
  and a transfer alike; :attr:`tinct.registry.Input.key`);
* the pixel limit: ``max_pixels``, else ``$TINCT_MAX_PIXELS``, else
  :data:`tinct.io.DEFAULT_MAX_PIXELS` (:func:`tinct.io.resolve_max_pixels`), for the image and every
  image input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinct.errors import MissingWeightsError, ParameterError, TinctError
from tinct.registry import Kind, Method, get_method

#: The method a front end runs when the user names none.
DEFAULT_METHODS: dict[str, str] = {"colorize": "auto", "transfer": "reinhard"}

#: Input kinds that are images on disk (read with :func:`tinct.io.read_image`).
_PIXEL_KINDS = ("image", "mask", "scribbles", "labels")

#: Input kinds that must have the size of the image they go with.
_SIZED_KINDS = ("mask", "scribbles", "labels")

Stage = Callable[[float, str], None]


def select_method(name: str | None, kind: Kind, given: Iterable[str] = ()) -> Method:
    """The method to run: ``name``, or the kind's default, switched by what the user gave.

    With no method named (or ``auto``), a ``reference`` means exemplar colorization and
    ``scribbles`` mean the scribble method: a user who hands tinct a colour reference wants it used.
    """
    given = set(given)
    chosen = name or DEFAULT_METHODS[kind]
    if kind == "colorize" and chosen == "auto":
        if "scribbles" in given:
            chosen = "scribble"
        elif "reference" in given:
            chosen = "exemplar"
    return get_method(chosen, kind)


def _size(a: np.ndarray) -> tuple[int, int]:
    return int(a.shape[0]), int(a.shape[1])


@dataclass
class Job:
    """A method with its inputs and settings, checked and ready to run on any number of images.

    Build it with :func:`make_job`. ``inputs`` maps the method's keyword argument to its value (pixels
    already read); ``sources`` lists the files they came from, which no output may replace.
    """

    method: Method
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    post: str | None = None
    max_pixels: int | None = None
    overwrite: bool = False
    provenance: bool = True
    sources: list[Path] = field(default_factory=list)
    save_confidence: bool = False
    skip_colour: bool = False

    @property
    def kind(self) -> Kind:
        return self.method.kind

    def record(self) -> dict[str, Any]:
        """What a result records about how it was made (``tinct info`` shows it; the writer adds tinct's version)."""
        rec: dict[str, Any] = {"method": self.method.name, "kind": self.kind,
                               "params": _jsonable({k: v for k, v in {**self.method.defaults(), **self.params}.items()
                                                    if v is not None and k not in self.method.path_params})}
        guided = any(self.inputs.get(i.name) is not None and len(self.inputs[i.name]) > 0
                     for i in self.method.inputs if i.kind == "hints")
        model = _model_name(self.method, self.params, guided)
        if model:
            rec["model"] = model
        given = sorted(k for k, v in self.inputs.items() if v is not None)
        if given:
            rec["inputs"] = given
        if self.post:
            rec["post"] = self.post
        return rec


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in params.items()}


def _model_name(method: Method, params: Mapping[str, Any], guided: bool = False) -> str | None:
    """The weights a CNN method runs with, as the registry names them (``tinctnet-v2``)."""
    if method.name not in ("auto", "eccv16", "siggraph17"):
        return None
    if params.get("weights"):
        return Path(str(params["weights"])).name
    try:
        from tinct.models.weights import default_entry, get_entry
    except ImportError:  # pragma: no cover - a core install without the CNN extra
        return None
    entry = default_entry(guided) if method.name == "auto" else get_entry(method.name)
    return entry.name if entry is not None else None


def read_input(value: Any, key: str, kind: str, max_pixels: int | None):
    """The value of one input as the method takes it: image files are read; arrays pass through."""
    if value is None:
        return None
    if kind in _PIXEL_KINDS and isinstance(value, (str, Path)):
        from tinct.io import read_image

        image = read_image(value, max_pixels=max_pixels)
        return image.pixels
    if kind == "hints":
        from tinct.colorize.hints import parse_hints

        return parse_hints(value, what=key)
    if kind == "regions":
        from tinct.colorize.hints import parse_regions

        return parse_regions(value, what=key, max_pixels=max_pixels)
    return value


def make_job(method: str | Method | None = None, kind: Kind = "colorize", *,
             inputs: Mapping[str, Any] | None = None, params: Mapping[str, Any] | list[str] | None = None,
             post: str | None = None, max_pixels: int | None = None, overwrite: bool = False,
             provenance: bool = True, save_confidence: bool = False, skip_colour: bool = False) -> Job:
    """Resolve and check a job once, before any image is read.

    Parameters
    ----------
    method : str, Method or None
        The method's name (None: the kind's default, switched by the inputs: :func:`select_method`).
    kind : {'colorize', 'transfer'}
        What the front end does.
    inputs : mapping, optional
        Side inputs by their role or name (``reference``, ``mask``, ``reference_mask``,
        ``scribbles``, ``hints``, ``regions``, ``label_map``, ...): a file path, an array, or for
        hints and regions what :mod:`tinct.colorize.hints` accepts. None values are ignored.
    params : mapping or list of str, optional
        Parameter values, or ``["name=value", ...]`` from a command line; validated against the registry.
    post : str, optional
        Post-processing recipe (:func:`tinct.post.apply_post`), checked here.
    max_pixels : int, optional
        Largest image, width x height (default ``$TINCT_MAX_PIXELS`` or 100 MP).
    overwrite : bool
        Replace existing outputs (never an input).
    provenance : bool
        Record in each output how it was made.
    save_confidence : bool
        Also write each result's confidence map (CNN methods) as a gray PNG beside it
        (:func:`confidence_path`).
    skip_colour : bool
        Colorization: leave out inputs that are colour images (hand-coloured, autochrome, colour photos;
        :func:`tinct.color.detect.input_colour`) instead of replacing their colours.

    Raises
    ------
    TinctError
        Unknown method, an input the method does not take or lacks, a bad parameter or recipe.
    """
    from tinct.io import resolve_max_pixels

    limit = resolve_max_pixels(max_pixels)
    given = {k: v for k, v in dict(inputs or {}).items() if v is not None}
    m = method if isinstance(method, Method) else select_method(method, kind, given)
    if m.kind != kind:
        raise ParameterError(f"method {m.name!r} is a {m.kind} method, not a {kind} method")
    m.check_available()
    values = m.parse(params) if isinstance(params, list) else m.validate(dict(params or {}))
    resolved: dict[str, Any] = {}
    sources: list[Path] = []
    for key, value in given.items():
        spec = m.input(key) or next((i for i in m.inputs if i.name == key), None)
        if spec is None:
            takes = ", ".join(i.key for i in m.inputs) or "no other input"
            raise ParameterError(f"{key}: method {m.name!r} does not use it (it takes {takes})")
        if isinstance(value, (str, Path)) and spec.kind in _PIXEL_KINDS + ("hints", "regions"):
            sources.append(Path(value))
        resolved[spec.name] = read_input(value, spec.key, spec.kind, limit)
    for spec in m.inputs:
        if spec.required and spec.name not in resolved:
            raise ParameterError(f"{spec.key}: method {m.name!r} needs {_article(spec.kind)}")
    if "reference_mask" in resolved and "reference" not in resolved:
        raise ParameterError("reference_mask: given without a reference image")
    if post:
        from tinct.post import parse_post

        parse_post(post)
    if save_confidence and m.name not in ("auto", "eccv16", "siggraph17"):
        raise ParameterError(f"confidence map: method {m.name!r} has none (auto, eccv16 and "
                             "siggraph17 have one)")
    return Job(m, values, resolved, post or None, limit, overwrite, provenance, sources, save_confidence,
               skip_colour)


def _article(kind: str) -> str:
    return {"image": "a reference image", "mask": "a mask", "scribbles": "a scribble image",
            "hints": "colour hints", "regions": "regions", "labels": "a label map"}[kind]


def check_sizes(job: Job, image: np.ndarray) -> None:
    """Refuse masks, scribbles and label maps whose size is not that of what they go with."""
    for spec in job.method.inputs:
        value = job.inputs.get(spec.name)
        if spec.kind not in _SIZED_KINDS or value is None:
            continue
        other = image if spec.size_of == "image" else job.inputs.get(spec.size_of)
        if other is None:
            continue
        want, got = _size(np.asarray(other)), _size(np.asarray(value))
        if got != want:
            owner = "image" if spec.size_of == "image" else spec.size_of
            raise ParameterError(f"{spec.key}: size {got[1]}x{got[0]} does not match the {owner}'s "
                                 f"{want[1]}x{want[0]}")


def sidecar_hints(src: Path) -> Path:
    """``photo.hints.json`` beside ``photo.jpg``: the colour hints for that one file in a folder run."""
    return src.with_name(f"{src.stem}.hints.json")


def confidence_path(dst: Path) -> Path:
    """``photo.auto.confidence.png`` beside ``photo.auto.jpg``: where ``--save-confidence`` writes the map."""
    return dst.with_name(f"{dst.stem}.confidence.png")


def run_array(job: Job, pixels: np.ndarray, *, stage: Stage | None = None,
              inputs: Mapping[str, Any] | None = None, confidence: list | None = None) -> np.ndarray:
    """Run the job's method and post-processing on an image array; returns the result array.

    ``inputs`` (by the method's argument names) replace the job's own for this image only. With
    ``confidence`` (a list), a CNN method's per-pixel confidence map is appended to it.
    """
    check_sizes(job, np.asarray(pixels))
    if stage:
        stage(0.15, "running")
    given = {**job.inputs, **(inputs or {})}
    if confidence is not None:
        from tinct.colorize.cnn import colorize_with_confidence

        result, conf = colorize_with_confidence(pixels, job.method.name, **given, **job.params)
        confidence.append(conf)
    else:
        result = job.method(pixels, **given, **job.params)
    if job.post:
        from tinct.post import apply_post

        if stage:
            stage(0.85, "post-processing")
        result = apply_post(result, job.post, keep_lightness_of=pixels if job.kind == "colorize" else None)
    return result


def run_file(job: Job, src, dst, *, protect: Iterable = (), stage: Stage | None = None) -> dict[str, Any]:
    """Read ``src``, run the job, write ``dst`` atomically; return the per-file record.

    The record holds ``input``, ``output``, ``seconds`` and ``timings`` (wall seconds to read, run the
    method with post-processing and write; ``cpu_s``, the process's CPU seconds for the whole file). A
    colorization's record also says what the input was (``input_colour``: ``gray``, ``tinted`` or
    ``colour``) with a ``warning`` for a colour input, whose colours are replaced; with ``skip_colour``
    such an input is not run and its record says ``skipped`` (``output`` None). Each output records
    how it was made (:meth:`Job.record`, read back by ``tinct info``) unless ``provenance`` is off. A method that takes colour hints, given none by the job, uses the file's
    own ``<stem>.hints.json`` when there is one (:func:`sidecar_hints`), so a folder of scans can each
    carry their hints. ``dst``'s folder is created. Raises :class:`~tinct.errors.TinctError`
    for a bad file or a result that may not be written (an existing file without ``overwrite``, an
    input).
    """
    from tinct.io import check_output_path, read_image, write_image

    src, dst = Path(src), Path(dst)
    guard = [src, *job.sources, *protect]
    t0, cpu0 = time.perf_counter(), time.process_time()
    if stage:
        stage(0.05, "reading")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ParameterError(f"{dst.parent}: exists and is not a folder") from None
    except OSError as exc:
        raise TinctError(f"{dst.parent}: cannot create the folder: {exc.strerror or exc}") from None
    check_output_path(dst, overwrite=job.overwrite, protect=guard)
    image = read_image(src, max_pixels=job.max_pixels)
    notes: dict[str, Any] = {}
    if job.kind == "colorize":
        from tinct.color.detect import input_colour

        notes["input_colour"] = input_colour(image.pixels)
        if notes["input_colour"] == "colour":
            if job.skip_colour:
                return {"input": str(src), "output": None, "skipped": "a colour image (--skip-colour)", **notes}
            notes["warning"] = f"{src}: a colour image; its colours are replaced by {job.method.name}'s"
    own: dict[str, Any] = {}
    hints = next((i for i in job.method.inputs if i.kind == "hints"), None)
    if hints is not None and job.inputs.get(hints.name) is None and sidecar_hints(src).is_file():
        own[hints.name] = read_input(sidecar_hints(src), hints.key, "hints", job.max_pixels)
    conf: list | None = None
    if job.save_confidence:
        check_output_path(confidence_path(dst), overwrite=job.overwrite, protect=guard)
        conf = []
    t1 = time.perf_counter()
    result = run_array(job, image.pixels, stage=stage, inputs=own, confidence=conf)
    t2 = time.perf_counter()
    if stage:
        stage(0.9, "writing")
    extra_files: dict[str, str] = {}
    if conf:
        gray = (np.clip(conf[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        write_image(confidence_path(dst), gray, overwrite=job.overwrite, protect=guard)
        extra_files["confidence"] = str(confidence_path(dst))
    write_image(dst, result, like=image, alpha=image.alpha, overwrite=job.overwrite, protect=guard,
                provenance=job.record() if job.provenance else None)
    t3 = time.perf_counter()
    return {"input": str(src), "output": str(dst), "seconds": round(t3 - t0, 3),
            **({"hints": str(sidecar_hints(src))} if own else {}), **extra_files, **notes,
            "timings": {"read_s": round(t1 - t0, 4), "method_s": round(t2 - t1, 4), "write_s": round(t3 - t2, 4),
                        "cpu_s": round(time.process_time() - cpu0, 4)}}


def run_files(job: Job, pairs: Iterable[tuple[Path, Path]], *,
              progress: Callable[[Iterable], Iterable] | None = None) -> tuple[list[dict], list[dict]]:
    """Run ``job`` on each (input, output) pair; one bad file is reported and never stops the others.

    Returns ``(done, failed)``: records of :func:`run_file`, and ``{"input", "error"}`` for each
    failure. A missing model is the same for every file and is raised once instead.
    """
    pairs = list(pairs)
    done: list[dict] = []
    failed: list[dict] = []
    for src, dst in (progress(pairs) if progress else pairs):
        try:
            done.append(run_file(job, src, dst, protect=[p for p, _ in pairs]))
        except MissingWeightsError:
            raise
        except TinctError as exc:
            failed.append({"input": str(src), "error": str(exc)})
        except OSError as exc:  # the file system said no (permissions, a full disk)
            failed.append({"input": str(src), "error": f"{dst}: {exc.strerror or exc}"})
    return done, failed


def call(kind: Kind, image, method: str | None, kwargs: dict[str, Any]):
    """The Python API: ``tinct.colorize(image, method, **kwargs)`` / ``tinct.transfer(...)``.

    ``kwargs`` mixes the method's inputs (by role or name) and its parameters; they are told apart by
    the method's declarations. Inputs are arrays (or file paths for image inputs).
    """
    probe = select_method(method, kind, [k for k, v in kwargs.items() if v is not None])
    names = {i.key for i in probe.inputs} | {i.name for i in probe.inputs}
    inputs = {k: v for k, v in kwargs.items() if k in names}
    params = {k: v for k, v in kwargs.items() if k not in names}
    job = make_job(probe, kind, inputs=inputs, params=params, provenance=False)
    return run_array(job, image)
