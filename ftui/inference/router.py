"""Which model answers, in which reasoning mode, and what happens when it fails.

- `pick_mode` is the documented `auto` rule (below).
- `with_mode` puts the mode's standard system prompt (assets/system_prompts.toml, overridable in
  $FTUI_HOME) in front of the conversation, keeping the app's own system prompt after it.
- `slot_chain` is the order slots are tried in: the user's (`user:<id>`), the user's team's
  (`team:<name>`, from config.toml's [teams]), the mode's, the domain's, `general`.
  `select_model` takes the production model of the first slot in it that has one, else none
  (the caller's base model).
- `generate` runs a registered model (or an Ollama name) and, when it errors or times out, falls
  back to its base model and says so in the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.inference import Generation, OnToken, local_generate, ollama_generate

_MULTI = re.compile(r"\b(compare|versus|vs\.?|trade-?offs?|pros and cons|plan|design|"
                    r"step[- ]by[- ]step guide|migrate|architecture)\b", re.I)
_REASON = re.compile(r"\b(why|prove|calculate|compute|how many|how much|derive|estimate|"
                     r"what is the probability|solve)\b|\d+\s*[-+*/^%]\s*\d+", re.I)


def pick_mode(messages: list[dict[str, Any]], tools: list | None = None) -> str:
    """The `auto` rule, in order: tools offered -> agent; two or more questions, or a
    compare / plan / design request -> multi_step; a why / calculate / solve question or
    arithmetic -> chain_of_thought; anything else -> standard."""
    if tools:
        return "agent"
    prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if prompt.count("?") >= 2 or _MULTI.search(prompt):
        return "multi_step"
    if _REASON.search(prompt):
        return "chain_of_thought"
    return "standard"


def with_mode(messages: list[dict[str, Any]], mode: str,
              prompts: dict[str, str]) -> list[dict[str, Any]]:
    prompt = prompts.get(mode)
    if not prompt:
        return messages
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{prompt}\n\n{messages[0]['content']}"},
                *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


def slot_chain(mode: str | None, domain: str | None = None, *, user: str | None = None,
               team: str | None = None) -> list[str]:
    """The slots to try, most personal first. A user id that cannot name a slot (see
    ftui.config.user_slot) is skipped, as is a team that is not a simple name."""
    from ftui.config import TEAM_NAME, user_slot

    chain = [user_slot(user), f"team:{team}" if team and TEAM_NAME.fullmatch(team) else None,
             mode, domain, "general"]
    out: list[str] = []
    for slot in chain:
        if slot and slot not in out:
            out.append(slot)
    return out


def first_served(chain: list[str], production: dict[str, Any]) -> str | None:
    """The first slot of `chain` that `production` (slot -> its production model) serves."""
    return next((slot for slot in chain if production.get(slot) is not None), None)


def production_by_slot(store) -> dict[str, Any]:
    """Every slot's production model, in one query (the gateway caches it for a moment)."""
    from sqlmodel import select

    from ftui.store import RegisteredModel

    with store.session() as s:
        found = s.exec(select(RegisteredModel).where(RegisteredModel.stage == "production"))
        return {m.slot: m for m in found}


def select_model(store, mode: str, domain: str | None = None, *, user: str | None = None,
                 team: str | None = None):
    from ftui.registry import production_model

    for slot in slot_chain(mode, domain, user=user, team=team):
        found = production_model(store, slot)
        if found is not None:
            return found
    return None


@dataclass
class Routed:
    generation: Generation
    mode: str
    requested: str
    fell_back: bool = False
    fallback_reason: str | None = None


def run_target(target: dict[str, Any], messages, home: Path, host: str, on_token=None,
               timeout_s: float = 120.0, options: dict[str, Any] | None = None) -> Generation:
    """Run one target from `target_of` as is (no mode prompt, no fallback)."""
    if target["backend"] == "ollama":
        return ollama_generate(host, target["name"], messages, options=options,
                               on_token=on_token, timeout_s=timeout_s)
    opts = options or {}
    return local_generate(target["base"], target.get("adapter"), messages, home,
                          on_token=on_token, max_new_tokens=int(opts.get("num_predict", 256)),
                          temperature=float(opts.get("temperature", 0.0)))


def target_of(store, ref: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what to run, its base to fall back to) for a registry id/name, or an Ollama name."""
    from ftui.registry import get_model

    try:
        m = get_model(store, ref)
    except FtuiError:
        return {"backend": "ollama", "name": ref}, None
    if m.kind == "ollama":
        base = {"backend": "ollama", "name": m.base_model} if m.base_model else None
        return {"backend": "ollama", "name": m.ollama_name}, base
    if m.kind == "adapter":
        if not m.base_model:
            raise FtuiError(f"adapter {m.name} has no base model recorded",
                            "register it again with --base")
        return ({"backend": "local", "base": m.base_model, "adapter": m.path},
                {"backend": "local", "base": m.base_model})
    return {"backend": "local", "base": m.path}, (
        {"backend": "local", "base": m.base_model} if m.base_model else None)


def generate(store, model_ref: str, messages: list[dict[str, Any]], *, mode: str = "standard",
             home: Path, host: str, tools: list | None = None, prompts: dict[str, str] | None = None,
             on_token: OnToken | None = None, timeout_s: float = 120.0,
             options: dict[str, Any] | None = None, fallback: bool = True) -> Routed:
    from ftui.prompts import system_prompts

    chosen = pick_mode(messages, tools) if mode == "auto" else mode
    convo = with_mode(messages, chosen, prompts if prompts is not None else system_prompts(home))
    target, base = target_of(store, str(model_ref))
    try:
        out = run_target(target, convo, home, host, on_token, timeout_s, options)
        return Routed(out, chosen, model_ref)
    except FtuiError as err:
        if not fallback or base is None:
            raise
        out = run_target(base, convo, home, host, on_token, timeout_s, options)
        return Routed(out, chosen, model_ref, fell_back=True, fallback_reason=err.message)
