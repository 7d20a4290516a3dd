"""Training methods: `sft` (ftui.train.trainer) and the preference methods `dpo`, `kto` and
`orpo` (ftui.train.methods.preference, on TRL). Runs, workers, callbacks and the registry are
shared; a method only builds its trainer and its data."""

from __future__ import annotations

from ftui.errors import FtuiError

# which dataset kinds each method trains on (kto also splits a pair into a desirable and an
# undesirable reply)
KINDS_OF = {"sft": ("sft",), "dpo": ("preference",), "orpo": ("preference",),
            "kto": ("unpaired", "preference")}


def check_method_fits(method: str, kind: str, dataset_id: int) -> None:
    """Refuse, before a run exists, a method the dataset version cannot feed."""
    if kind in KINDS_OF.get(method, ()):
        return
    want = KINDS_OF.get(method, ("sft",))[0]
    raise FtuiError(
        f"method {method} trains on a {' or '.join(KINDS_OF.get(method, ()))} version; "
        f"dataset {dataset_id} is {kind}",
        f"build one with: ftui dataset build NAME --kind {want}"
        + ("" if method != "sft" else "   (or pick --method dpo / kto / orpo for this one)"))
