"""BuildConfig: everything that decides how TensorRT builds an engine (precision lives in the model itself)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence, TYPE_CHECKING

from ..errors import ConfigError
from ..model.tensors import check_against_spec, parse_shapes

if TYPE_CHECKING:
    from ..model import Model

Dims = tuple[int, ...]
MEMORY_POOLS = ("workspace", "tactic_shared_memory", "tactic_dram")


def _dims(value, what: str) -> Dims:
    if isinstance(value, str):
        return next(iter(parse_shapes(f"x:{value}").values()))
    try:
        dims = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected dimensions like 1x3x224x224 or (1, 3, 224, 224), got {value!r}") from None
    if any(d < 0 for d in dims):  # 0 is a length too: an empty KV cache at prefill
        raise ConfigError(f"{what}: dimensions must be 0 or more, got {list(dims)}")
    return dims


def check_in_profile(
    name: str, dims: Sequence[int], lo: Sequence[int], hi: Sequence[int], *, what: str | None = None
) -> None:
    """ConfigError unless ``dims`` lie within the profile [``lo``, ``hi``] of input ``name`` (the one profile-range
    check: engines, runners and benchmark feeds use it). ``what`` names the offending value (default: the shape)."""
    dims = list(dims)
    if len(dims) != len(lo) or not all(a <= d <= b for a, d, b in zip(lo, dims, hi)):
        raise ConfigError(
            f"{what or f'shape {dims}'} is outside the engine's profile for input '{name}' "
            f"(min {list(lo)}, max {list(hi)}); rebuild with a wider profile"
        )


def normalize_shape_range(name: str, value: Any) -> tuple[Dims, Dims, Dims]:
    """One shape, or (min, opt, max), or {'min':…, 'opt':…, 'max':…} → (min, opt, max)."""
    if isinstance(value, Mapping):
        try:
            return tuple(_dims(value[k], f"input '{name}' {k} shape") for k in ("min", "opt", "max"))  # type: ignore
        except KeyError as exc:
            raise ConfigError(f"input '{name}': a shape range needs min, opt and max (missing {exc})") from None
    if isinstance(value, str) or (isinstance(value, Sequence) and value and not isinstance(value[0], (Sequence, str))):
        d = _dims(value, f"input '{name}' shape")
        return d, d, d
    if isinstance(value, Sequence) and len(value) == 3:
        return tuple(_dims(v, f"input '{name}' {k} shape") for v, k in zip(value, ("min", "opt", "max")))  # type: ignore
    raise ConfigError(f"input '{name}': give one shape or a (min, opt, max) triple, got {value!r}")


@dataclass(frozen=True)
class BuildConfig:
    """How to build. ``shapes`` maps an input to one shape or a (min, opt, max) optimization profile.

    Dynamic inputs not named get the model's default shape (min = opt = max).
    """

    shapes: Mapping[str, object] = field(default_factory=dict)
    optimization_level: int | None = None  # builder optimization level 0..5 (TensorRT's default: 3)
    memory_pool_limits: Mapping[str, int] = field(default_factory=dict)  # pool name -> bytes
    max_aux_streams: int | None = None  # None: TensorRT decides; 0: one stream only
    timing_cache: str | None = None  # file reused (read and updated) across builds
    compute_capabilities: tuple[str, ...] = ()  # TensorRT-RTX ahead-of-time targets, e.g. ("8.9", "12.0")

    def __post_init__(self) -> None:
        if self.optimization_level is not None and not 0 <= int(self.optimization_level) <= 5:
            raise ConfigError(f"optimization_level must be 0..5, got {self.optimization_level}")
        if self.max_aux_streams is not None and int(self.max_aux_streams) < 0:
            raise ConfigError(f"max_aux_streams must be >= 0, got {self.max_aux_streams}")
        for pool, size in self.memory_pool_limits.items():
            if pool not in MEMORY_POOLS:
                raise ConfigError(f"memory pool '{pool}' is unknown (pools: {', '.join(MEMORY_POOLS)})")
            if int(size) <= 0:
                raise ConfigError(f"memory pool '{pool}' limit must be positive bytes, got {size}")
        for cc in self.compute_capabilities:
            if not str(cc).replace(".", "", 1).isdigit() or "." not in str(cc):
                raise ConfigError(f"compute capability '{cc}' must look like 8.9 or 12.0")
        for name, value in self.shapes.items():
            normalize_shape_range(name, value)

    def named_profiles(self, model: "Model") -> dict[str, dict[str, tuple[Dims, Dims, Dims]]]:
        """Every optimization profile of the engine, by name. A KV-cache decoder built with no shapes given (and no
        preset or shapes fixed by ``model.at_shapes``) gets two: ``decode`` (profile 0) and ``prefill``, one engine
        for both phases (``model.shapes.preset_profiles``); anything else one, ``default``."""
        shapes = getattr(model, "shapes", None)
        if not self.shapes and shapes is not None and shapes.preset is None and not shapes.fixed:
            phases = shapes.preset_profiles()
            if phases:
                for phase in phases.values():
                    for name, spec in {s.name: s for s in model.inputs}.items():
                        for label, dims in zip(("min", "opt", "max"), phase[name]):
                            check_against_spec(spec, dims, f"{label} shape")
                return {"decode": phases["decode"], "prefill": phases["prefill"]}
        return {"default": self._profile(model)}

    def profiles(self, model: "Model") -> dict[str, tuple[Dims, Dims, Dims]]:
        """The first optimization profile for every input (see ``named_profiles``), validated against the model."""
        return next(iter(self.named_profiles(model).values()))

    def _profile(self, model: "Model") -> dict[str, tuple[Dims, Dims, Dims]]:
        inputs = {s.name: s for s in model.inputs}
        for name in self.shapes:
            if name not in inputs:
                raise ConfigError(
                    f"shape given for '{name}', which is not an input of {model.label} (inputs: {', '.join(inputs)})"
                )
        out = {}
        for name, spec in inputs.items():
            if name in self.shapes:
                lo, opt, hi = normalize_shape_range(name, self.shapes[name])
            elif spec.is_dynamic:
                defaults = model.shapes.default  # read only when needed: a broken metadata entry may not matter
                if name not in defaults:
                    raise ConfigError(f"input '{name}' has unknown rank: give its shape")
                lo = opt = hi = defaults[name]
            else:
                lo = opt = hi = tuple(spec.shape)  # type: ignore[arg-type]  # not dynamic: all ints
            for label, dims in (("min", lo), ("opt", opt), ("max", hi)):
                check_against_spec(spec, dims, f"{label} shape")
            if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
                raise ConfigError(
                    f"input '{name}': profile needs min <= opt <= max in every dimension, got "
                    f"min {list(lo)}, opt {list(opt)}, max {list(hi)}"
                )
            out[name] = (lo, opt, hi)
        return out

    def key(self, model: Model) -> str:
        """Canonical JSON of what changes the engine (the timing cache's path does not)."""
        return json.dumps(
            {
                "profiles": {k: [list(d) for d in v] for k, v in sorted(self.profiles(model).items())},
                "named_profiles": {
                    p: {k: [list(d) for d in v] for k, v in sorted(profile.items())}
                    for p, profile in self.named_profiles(model).items()
                },
                "optimization_level": self.optimization_level,
                "memory_pool_limits": dict(sorted(self.memory_pool_limits.items())),
                "max_aux_streams": self.max_aux_streams,
                "compute_capabilities": list(self.compute_capabilities),
            },
            sort_keys=True,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shapes"] = {k: (v if isinstance(v, str) else json.loads(json.dumps(v))) for k, v in self.shapes.items()}
        return d
