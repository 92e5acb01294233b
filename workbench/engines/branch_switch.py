"""Before a build: a merged decoder's branch switch folded into the branch the build's shapes take.

optimum's merged decoders pick the first step or a later one with a top-level ``If`` on the boolean graph input
``use_cache_branch``. TensorRT-RTX's Myelin fails on such an ``If`` when its branches give differently shaped outputs
("the producer does not dominate the use"), as every real export's do — after seconds to minutes of building. So the
fold is decided up front, in milliseconds, by shape inference of both branches at the build's and the presets' shapes
(no failed build first): when they agree the ``If`` stays (TensorRT-RTX builds it, and one engine serves both phases);
when they differ it is folded into the branch the shapes say. Which branch: the KV cache's length at the profile's opt
shapes — past > 0 (the decode preset, or ``--shapes`` with a filled cache) takes ``then`` (use_cache_branch=true), past
0 (the prefill preset, or an empty cache) takes ``else``; with no cache input, the preset's name decides. A model with
both profiles (prefill + decode) gets the engine of profile 0 (decode) and says that prefill needs ``--shapes prefill``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..model.branch_fold import branch_switches, branches_agree, fold_switches
from ..model.kv_cache import kv_cache_inputs, length_axis

if TYPE_CHECKING:
    from ..model import Model

Profiles = dict[str, dict[str, tuple]]  # profile name -> input -> (min, opt, max)
_PRESET_USES_CACHE = {"decode": True, "prefill": False}


@dataclass
class BranchPlan:
    """What to build: the model (folded or as it was), its profiles, and what was done (None: nothing)."""

    model: "Model"
    named_profiles: Profiles
    note: str | None = None
    folded: dict[str, bool] | None = None  # condition -> value, when folded

    def key_part(self) -> str:
        """What the fold adds to an engine's cache key."""
        return "" if not self.folded else "|fold:" + ",".join(f"{c}={v}" for c, v in sorted(self.folded.items()))


def _cache_length(model: "Model", profile: dict[str, tuple]) -> tuple[int, str] | None:
    """The KV cache's length at the profile's opt shapes, and the input it was read from; None without a cache."""
    caches = [s for s in kv_cache_inputs(model.inputs) if s.name in profile]
    # A cache whose length axis is named "past" (self-attention); a cross-attention cache holds the encoder's length.
    past = [s for s in caches if any(isinstance(d, str) and "past" in d.lower() for d in s.shape or ())]
    lengths = [(int(profile[s.name][1][length_axis(s)]), s.name) for s in past or caches]
    return max(lengths) if lengths else None


def _uses_cache(model: "Model", name: str, profile: dict[str, tuple]) -> tuple[bool, str] | None:
    """Which branch a profile takes (True: then, the cache is read) and why; None when nothing says."""
    length = _cache_length(model, profile)
    if length is not None:
        tokens, source = length
        return tokens > 0, (f"'{source}' holds {tokens} tokens" if tokens else f"'{source}' is empty") + " at opt"
    if name in _PRESET_USES_CACHE:
        return _PRESET_USES_CACHE[name], f"the {name} preset"
    return None


def plan_branch_fold(model: "Model", named_profiles: Profiles) -> BranchPlan:
    """The model and profiles to build: ``model`` as it is unless it has a branch switch whose branches give
    differently shaped outputs (at any profile's or preset's opt shapes); then the folded model (see the module's
    docstring), its profiles without the removed inputs, and a note saying which If, which branch and why."""
    switches = branch_switches(model.proto)
    if not switches:
        return BranchPlan(model, named_profiles)
    first_name, first = next(iter(named_profiles.items()))
    chosen = _uses_cache(model, first_name, first)
    if chosen is None:  # nothing tells which branch: TensorRT judges the If (a failure says to fold-branch)
        return BranchPlan(model, named_profiles)
    value, why = chosen
    conditions = list(dict.fromkeys(s.condition for s in switches))
    # Agreement is checked at every profile's opt shapes and at both presets': at an empty cache (prefill) the
    # branches of optimum's export happen to agree, yet they are the If Myelin refuses, and prefill takes else.
    # The presets at the model's own defaults (not at shapes the user fixed): whether the branches differ is the
    # model's property, and a fixed empty cache would hide it.
    from ..model.model_shapes import ModelShapes

    checked = [*named_profiles.values(), *ModelShapes(model).preset_profiles().values()]
    if all(branches_agree(model.proto, conditions, {i: r[1] for i, r in p.items()}) for p in checked):
        return BranchPlan(model, named_profiles)
    from ..model import Model

    values = dict.fromkeys(conditions, value)
    setting = ", ".join(f"{c}={str(value).lower()}" for c in conditions)
    folded = Model(
        fold_switches(model.proto, values), label=f"{model.label} [{setting}]", base_dir=model.base_dir, name=model.name
    )
    kept_inputs = {s.name for s in folded.inputs}
    kept, left = {}, []
    for name, profile in named_profiles.items():
        other = _uses_cache(model, name, profile)
        if other is not None and other[0] != value:
            left.append(name)  # this phase takes the other branch: another engine
            continue
        kept[name] = {i: r for i, r in profile.items() if i in kept_inputs}
    # The folded model's defaults are the build's opt shapes (it may no longer be a KV-cache decoder with presets).
    folded.shapes = ModelShapes(folded, {i: r[1] for i, r in kept[first_name].items()})
    ifs = ", ".join(f"If '{s.node}' on the input '{s.condition}'" for s in switches)
    note = (
        f"{model.label}: {ifs} folded into its {'then' if value else 'else'} branch ({setting}: {why}) before the "
        "build — its branches give differently shaped outputs, which TensorRT-RTX cannot build; "
        f"{' and '.join(repr(c) for c in conditions)} is no input of the engine"
    )
    if left:
        other_branch = "else" if value else "then"
        note += (
            f". The {', '.join(left)} profile takes the {other_branch} branch, so this engine has "
            f"{', '.join(kept)} only: build the other with --shapes {left[0]}"
        )
    return BranchPlan(folded, kept, note, values)


def fold_for_build(model: "Model", named_profiles: Profiles) -> BranchPlan:
    """``plan_branch_fold``, its note said (as a warning, so it is printed once per command)."""
    plan = plan_branch_fold(model, named_profiles)
    if plan.note:
        warnings.warn(plan.note, stacklevel=3)
    return plan
