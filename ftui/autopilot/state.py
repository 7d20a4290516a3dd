"""The autopilot's rows in the store: the lock (one autopilot per store, with a heartbeat and a
stale rule like the training workers'), the kill switch, cycles and their steps."""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ftui.errors import FtuiError
from ftui.store import AutopilotCycle, AutopilotLock, AutopilotStep, Store, db_now, utcnow

LOCK = "autopilot"
STALE_AFTER_S = 60  # as a training worker: a holder silent this long is gone
L = AutopilotLock.__table__


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _lock_row(store: Store) -> AutopilotLock:
    with store.session() as s:
        row = s.get(AutopilotLock, LOCK)
        if row is not None:
            return row
        s.add(AutopilotLock(name=LOCK))
        try:
            s.commit()
        except IntegrityError:  # another process made it first
            s.rollback()
        return s.get(AutopilotLock, LOCK)


def lock_state(store: Store, stale_after_s: float = STALE_AFTER_S) -> dict[str, Any]:
    row = _lock_row(store)
    with store.session() as s:  # staleness by the database's clock, as the heartbeats are
        now = s.exec(select(db_now())).one()
    live = row.holder is not None and row.heartbeat_at is not None and \
        row.heartbeat_at >= now - timedelta(seconds=stale_after_s)
    return {"holder": row.holder if live else None,
            "stale_holder": row.holder if row.holder and not live else None,
            "heartbeat_at": row.heartbeat_at.isoformat() if row.heartbeat_at else None,
            "paused": row.paused, "paused_at": row.paused_at.isoformat() if row.paused_at
            else None, "pause_note": row.pause_note}


def acquire(store: Store, holder: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Take the lock for `holder`: free, already ours, or its holder stopped beating. Atomic
    (one conditional UPDATE), so two autopilots starting together cannot both win."""
    _lock_row(store)
    # the database's clock, not this machine's: autopilots on two machines judge alike
    with store.engine.begin() as conn:
        taken = conn.execute(update(L).where(
            L.c.name == LOCK, or_(L.c.holder.is_(None), L.c.holder == holder,
                                  L.c.heartbeat_at.is_(None),
                                  L.c.heartbeat_at < db_now(-stale_after_s)))
            .values(holder=holder, heartbeat_at=db_now()))
    return taken.rowcount == 1


def refuse_second(store: Store, holder: str, stale_after_s: float = STALE_AFTER_S) -> None:
    if not acquire(store, holder, stale_after_s):
        state = lock_state(store, stale_after_s)
        raise FtuiError(
            f"another autopilot runs on this store ({state['holder']}, last heartbeat "
            f"{state['heartbeat_at']} UTC)",
            f"stop it first; a holder that stops beating for {int(stale_after_s)} s is taken "
            "over automatically")


def beat(store: Store, holder: str) -> bool:
    """Renew the heartbeat; False when the lock is no longer ours (taken over as stale)."""
    with store.engine.begin() as conn:
        done = conn.execute(update(L).where(L.c.name == LOCK, L.c.holder == holder)
                            .values(heartbeat_at=db_now()))
    return done.rowcount == 1


def release(store: Store, holder: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(L).where(L.c.name == LOCK, L.c.holder == holder)
                     .values(holder=None, heartbeat_at=None))


def set_paused(store: Store, paused: bool, note: str | None = None) -> dict[str, Any]:
    """The kill switch: a paused autopilot takes no new step (a running one stops at the next
    check: between steps, and inside training and the gate)."""
    _lock_row(store)
    with store.engine.begin() as conn:
        conn.execute(update(L).where(L.c.name == LOCK).values(
            paused=paused, paused_at=utcnow() if paused else None,
            pause_note=note if paused else None))
    return lock_state(store)


def is_paused(store: Store) -> bool:
    with store.session() as s:
        row = s.get(AutopilotLock, LOCK)
    return bool(row and row.paused)


# ---------------------------------------------------------------- cycles and steps


def active_cycle(store: Store) -> AutopilotCycle | None:
    with store.session() as s:
        return s.exec(select(AutopilotCycle).where(AutopilotCycle.status == "running")
                      .order_by(col(AutopilotCycle.id).desc())).first()


def last_cycle(store: Store) -> AutopilotCycle | None:
    with store.session() as s:
        return s.exec(select(AutopilotCycle).order_by(col(AutopilotCycle.id).desc())).first()


def list_cycles(store: Store, limit: int = 100) -> list[AutopilotCycle]:
    with store.session() as s:
        return list(s.exec(select(AutopilotCycle).order_by(col(AutopilotCycle.id).desc())
                           .limit(limit)))


def get_cycle(store: Store, cycle_id: int | str) -> AutopilotCycle:
    with store.session() as s:
        row = s.get(AutopilotCycle, int(cycle_id)) if str(cycle_id).isdigit() else None
    if row is None:
        raise FtuiError(f"no autopilot cycle {cycle_id!r}",
                        "see them with: ftui autopilot status")
    return row


def steps_of(store: Store, cycle_id: int) -> list[AutopilotStep]:
    with store.session() as s:
        return list(s.exec(select(AutopilotStep).where(AutopilotStep.cycle_id == cycle_id)
                           .order_by(col(AutopilotStep.id))))


def start_cycle(store: Store, policy_json: str, reason: str) -> AutopilotCycle:
    with store.session() as s:
        cycle = AutopilotCycle(policy_json=policy_json, reason=reason, stage="dataset")
        s.add(cycle)
        s.flush()
        s.add(AutopilotStep(cycle_id=cycle.id, name="trigger", status="done", summary=reason,
                            finished_at=utcnow()))
        s.commit()
        s.refresh(cycle)
    return cycle


def update_cycle(store: Store, cycle_id: int, **values: Any) -> AutopilotCycle:
    with store.session() as s:
        cycle = s.get(AutopilotCycle, cycle_id)
        for key, value in values.items():
            setattr(cycle, key, value)
        cycle.updated_at = utcnow()
        if values.get("status") in ("finished", "failed"):
            cycle.finished_at = utcnow()
        s.commit()
        s.refresh(cycle)
    return cycle


def record_step(store: Store, cycle_id: int, name: str, status: str, summary: str,
                detail: dict[str, Any] | None = None) -> AutopilotStep:
    """Add a step, or update the cycle's last step of that name while it is running or
    waiting (a training run polled, a decision still waiting for data)."""
    with store.session() as s:
        row = s.exec(select(AutopilotStep).where(AutopilotStep.cycle_id == cycle_id,
                                                 AutopilotStep.name == name)
                     .order_by(col(AutopilotStep.id).desc())).first()
        if row is None or row.status not in ("running", "waiting"):
            row = AutopilotStep(cycle_id=cycle_id, name=name)
            s.add(row)
        row.status, row.summary = status, summary
        row.detail_json = json.dumps(detail, default=str) if detail is not None else None
        row.finished_at = utcnow() if status in ("done", "failed") else None
        s.commit()
        s.refresh(row)
    return row


def unnotified_ends(store: Store) -> list[AutopilotCycle]:
    """Cycles that ended since the TUI last said so (each is then marked notified)."""
    with store.session() as s:
        rows = list(s.exec(select(AutopilotCycle).where(
            col(AutopilotCycle.status).in_(("finished", "failed")),
            AutopilotCycle.notified.is_(False))))  # type: ignore[union-attr]
        for row in rows:
            row.notified = True
        s.commit()
    return rows


def cycle_dict(store: Store, cycle: AutopilotCycle, with_steps: bool = True) -> dict[str, Any]:
    out = {"id": cycle.id, "status": cycle.status, "stage": cycle.stage,
           "outcome": cycle.outcome, "reason": cycle.reason, "error": cycle.error,
           "created_at": cycle.created_at.isoformat(), "updated_at": cycle.updated_at.isoformat(),
           "finished_at": cycle.finished_at.isoformat() if cycle.finished_at else None,
           "dataset_id": cycle.dataset_id, "run_id": cycle.run_id, "model_id": cycle.model_id,
           "ollama_name": cycle.ollama_name, "experiment_id": cycle.experiment_id}
    if with_steps:
        out["steps"] = [{"name": st.name, "status": st.status, "summary": st.summary,
                         "detail": st.detail, "started_at": st.started_at.isoformat(),
                         "finished_at": st.finished_at.isoformat() if st.finished_at else None}
                        for st in steps_of(store, cycle.id)]
    return out
