"""Calibration data from whatever the user has: arrays, feed dicts, a generator, .npy/.npz files, or images.

Everything is streamed batch by batch (nothing is held beyond the batch in flight) and every batch is checked
against the model's inputs, so a wrong name, shape, dtype or a NaN is reported with the input it concerns.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, TYPE_CHECKING, TypeAlias

import numpy as np

from ..budget import array_bytes, check_bytes
from ..errors import ConfigError
from ..model import check_feeds
from ..model.external_data import describe_special_file
from ..model.tensors import format_shape

if TYPE_CHECKING:
    from ..model import Model

# What calibrate, accuracy and the precision plans take as data (see CalibrationData)
DataSource: TypeAlias = (
    "np.ndarray | Mapping[str, np.ndarray] | Iterable[Mapping[str, np.ndarray]] | CalibrationData"
    " | str | os.PathLike[str]"
)

_FILE_SUFFIXES = (".npy", ".npz")


def _checked_header(handle, label: str, stored_bytes: int) -> None:
    """The .npy header of ``handle``: no pickled objects, and the bytes it declares present and within budget."""
    try:
        version = np.lib.format.read_magic(handle)
        shape, _, dtype = (
            np.lib.format.read_array_header_1_0(handle)
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0(handle)
        )
    except (ValueError, OSError) as exc:
        raise ConfigError(f"calibration file {label} cannot be read as .npy/.npz: {exc}") from None
    if dtype.hasobject:
        raise ConfigError(
            f"calibration file {label} holds Python objects (a pickle), which are never loaded; save "
            "plain numeric arrays (np.save / np.savez)"
        )
    declared = array_bytes(shape, dtype.itemsize)
    if declared > stored_bytes:
        raise ConfigError(
            f"calibration file {label} declares {shape} {dtype} ({declared:,} bytes) but holds only "
            f"{stored_bytes:,} bytes: the file is truncated or forged"
        )
    check_bytes(declared, f"calibration file {label}")


def load_array_file(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """np.load of a calibration .npy/.npz, after checking what it would allocate: a FIFO or device is refused, each
    array's header is read first (declared size against the data present, the decompressed size of an .npz member
    against its zip entry and the memory budget), pickles are refused."""
    import zipfile

    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ConfigError(f"calibration file {path} is {describe_special_file(mode)}, not a .npy/.npz file")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                total = 0
                for member in archive.infolist():
                    with archive.open(member) as handle:
                        _checked_header(handle, f"{path} (array {member.filename})", member.file_size)
                    total += member.file_size
                check_bytes(total, f"calibration file {path} (all its arrays, decompressed)")
        else:
            with open(path, "rb") as handle:
                _checked_header(handle, str(path), path.stat().st_size)
        item = np.load(path, allow_pickle=False)
        if isinstance(item, np.lib.npyio.NpzFile):
            with item:
                return {k: item[k] for k in item.files}
        return item
    except ConfigError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"calibration file {path} cannot be read as .npy/.npz: {exc}") from None


class CalibrationData:
    """A re-iterable stream of feed dicts for ``model``.

    ``source``: a numpy array (single-input models; samples along axis 0), a dict ``{input: array}``, an iterable
    or generator of feed dicts (one batch each), a folder or file of ``.npy``/``.npz`` (each file a sample or a
    batch; ``.npz`` keys are input names), or a folder of any files with ``preprocess(path) -> array or dict``
    (e.g. images). ``batch_size`` splits arrays into batches; ``samples`` stops after that many samples.
    """

    def __init__(
        self,
        source: DataSource,
        model: Model,
        *,
        batch_size: int | None = None,
        samples: int | None = None,
        preprocess: Callable[[Path], object] | None = None,
    ):
        self.model = model
        self.source = source
        self.preprocess = preprocess
        if samples is not None and (not isinstance(samples, int) or samples < 1):
            raise ConfigError(f"samples must be a positive integer, got {samples!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.samples = samples
        fixed = {s.shape[0] for s in model.inputs if s.shape and isinstance(s.shape[0], int)}
        self.batch_size = batch_size or (fixed.pop() if len(fixed) == 1 else 32)
        self._one_shot = isinstance(source, Iterator)  # a generator can be read once
        self._consumed = False
        if isinstance(source, (str, os.PathLike)):
            self.files = self._list_files(Path(source))

    # --- sources ------------------------------------------------------------------------------------------------
    def _list_files(self, path: Path) -> list[Path]:
        if not path.exists():
            raise ConfigError(f"calibration data {path} does not exist")
        if path.is_file():
            files = [path]
        elif not path.is_dir():  # a FIFO, a device: never opened (reading one could block forever)
            raise ConfigError(
                f"calibration data {path} is {describe_special_file(path.stat().st_mode)}, not a "
                ".npy/.npz file or a folder of them"
            )
        else:
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if self.preprocess is None:
                files = [p for p in files if p.suffix in _FILE_SUFFIXES]
        if not files:
            raise ConfigError(
                f"calibration data {path} is empty: no {'files' if self.preprocess else '.npy/.npz files'} in it"
            )
        if self.preprocess is None:
            wrong = [p for p in files if p.suffix not in _FILE_SUFFIXES]
            if wrong:
                raise ConfigError(
                    f"calibration data {wrong[0]} is not a .npy/.npz file; pass preprocess= to read "
                    "other files (e.g. images)"
                )
        return files

    def _as_feeds(self, item, where: str) -> dict[str, np.ndarray]:
        names = [s.name for s in self.model.inputs]
        if isinstance(item, np.lib.npyio.NpzFile):
            item = {k: item[k] for k in item.files}
        if isinstance(item, Mapping):
            feeds = {k: np.asarray(v) for k, v in item.items()}
        else:
            if len(names) != 1:
                raise ConfigError(
                    f"calibration data {where} is one array, but {self.model.label} has "
                    f"{len(names)} inputs ({', '.join(names)}); give a dict of input name -> array"
                )
            feeds = {names[0]: np.asarray(item)}
        specs = {s.name: s for s in self.model.inputs}
        for name, array in feeds.items():  # one sample without its batch axis: add it
            spec = specs.get(name)
            if spec is not None and spec.shape is not None and array.ndim == len(spec.shape) - 1:
                feeds[name] = array[None]
        return feeds

    def _raw(self) -> Iterator[tuple[dict, str]]:
        src = self.source
        if isinstance(src, (str, os.PathLike)):
            for path in self.files:
                if self.preprocess is not None:
                    try:
                        item = self.preprocess(path)
                    except Exception as exc:
                        raise ConfigError(f"preprocess failed on calibration file {path}: {exc}") from None
                else:
                    item = load_array_file(path)
                yield self._as_feeds(item, f"file {path.name}"), f" (file {path.name})"
        elif isinstance(src, np.ndarray) or (
            isinstance(src, Mapping) and all(isinstance(v, np.ndarray) for v in src.values())
        ):
            feeds = self._as_feeds(src, "array")
            sizes = {len(v) for v in feeds.values()}
            if len(sizes) > 1:
                raise ConfigError(
                    f"calibration arrays have different numbers of samples: { {k: len(v) for k, v in feeds.items()} }"
                )
            n = sizes.pop() if sizes else 0
            for start in range(0, n, self.batch_size):
                yield (
                    {k: v[start : start + self.batch_size] for k, v in feeds.items()},
                    f" (samples {start}..{min(start + self.batch_size, n) - 1})",
                )
        elif isinstance(src, Iterable) and not isinstance(src, (str, bytes, Mapping)):
            if self._one_shot and self._consumed:
                raise ConfigError(
                    "the calibration generator was already used up; pass a list or a function's "
                    "fresh generator to calibrate again"
                )
            self._consumed = True
            for i, item in enumerate(src):
                yield self._as_feeds(item, f"batch {i}"), f" (batch {i})"
        else:
            raise ConfigError(
                f"calibration data of type {type(src).__name__} is not supported: give arrays, a dict "
                "of arrays, an iterable of feed dicts, or a folder of .npy/.npz files"
            )

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        seen = 0
        any_batch = False
        for feeds, where in self._raw():
            feeds = check_feeds(self.model, feeds, what=f"calibration data{where}")
            for name, array in feeds.items():
                if array.dtype.kind == "f" and not np.isfinite(array).all():
                    bad = "NaN" if np.isnan(array).any() else "Inf"
                    raise ConfigError(f"calibration data{where}: input '{name}' contains {bad}")
            n = len(next(iter(feeds.values()))) if feeds else 0
            if self.samples is not None and seen + n > self.samples:
                feeds = {k: v[: self.samples - seen] for k, v in feeds.items()}
                n = self.samples - seen
            if n == 0:
                continue
            any_batch = True
            yield feeds
            seen += n
            if self.samples is not None and seen >= self.samples:
                break
        if not any_batch:
            expected = ", ".join(f"{s.name} {format_shape(s.shape)} {s.dtype}" for s in self.model.inputs)
            raise ConfigError(f"calibration data is empty: no samples for {expected}")

    def count(self) -> int | None:
        """Number of samples when known without reading the data (arrays), else None."""
        src = self.source
        if isinstance(src, np.ndarray):
            n = len(src)
        elif isinstance(src, Mapping) and src and all(isinstance(v, np.ndarray) for v in src.values()):
            n = len(next(iter(src.values())))
        elif isinstance(src, (list, tuple)):
            n = None
        else:
            return None
        if n is None:
            return None
        return min(n, self.samples) if self.samples else n
