"""The expert in the loop, in the store: enqueue a trial, stop, pause or resume one, mark one (note, tags), narrow
a parameter (``narrow_param``), and the log of every such action. Each action and its record are written in one
transaction. Part of ``Store``.

A stop or pause of a RUNNING trial cannot be done here: it is a request on the trial's row (``request``), which
its worker, wherever it runs, reads back with the trial's next write (``write_trial``) and carries out at that
report. A resume is a request on a PAUSED trial that the next free worker honours first (``next_work``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from itero._clock import Clock
from itero.exceptions import TrialActionError, TrialNotFoundError
from itero.store._records import ActionRecord
from itero.store._schema import actions, studies, trials
from itero.store._writes import HandRequest
from itero.trial import ENQUEUED_KEY, NOTE_KEY, TAGS_KEY

_dumps = json.dumps

# What each hand action does to a trial in each state it applies to: (new state or None, result shown to people).
_STEERS: dict[str, dict[str, tuple[str | None, str]]] = {
    "stop": {
        "RUNNING": (None, "stops at its next report"),
        "PAUSED": ("PRUNED", "PRUNED"),
        "WAITING": ("PRUNED", "PRUNED while it waited to run"),
    },
    "pause": {"RUNNING": (None, "pauses at its next report (stops there if its objective saves no state)")},
    "resume": {"PAUSED": (None, "resumed first by the next free worker")},
}


class ActionRows:
    """The hand-action half of ``Store`` (it supplies the engine, clock and the trial rows' helpers)."""

    engine: Engine
    clock: Clock
    _read: Engine
    _tick: Callable[[Connection, int], int]  # TrialRows: the study's next version
    _create_trial: Callable[..., tuple[int, int]]  # TrialRows: create_trial in a transaction

    # ------------------------------------------------------------------ the log
    def record_action(
        self,
        study_id: int,
        kind: str,
        who: str,
        details: Mapping[str, Any] | None = None,
        trial_number: int | None = None,
    ) -> ActionRecord:
        """Record an action a person took on the study (``kind`` up to 32 characters, ``who`` up to 255)."""
        with self.engine.begin() as conn:
            return self._record(conn, study_id, kind, who, details or {}, trial_number)

    def _record(
        self,
        conn: Connection,
        study_id: int,
        kind: str,
        who: str,
        details: Mapping[str, Any],
        trial_number: int | None,
    ) -> ActionRecord:
        now = self.clock.time()
        row_id = conn.execute(
            insert(actions)
            .values(
                study_id=study_id,
                created_at=now,
                who=who[:255],
                kind=kind[:32],
                trial_number=trial_number,
                details=_dumps(dict(details), default=str),
            )
            .returning(actions.c.id)
        ).scalar_one()
        return ActionRecord(int(row_id), study_id, now, who[:255], kind[:32], trial_number, dict(details))

    def actions(self, study_id: int, limit: int | None = None, trial_number: int | None = None) -> list[ActionRecord]:
        """The study's actions, oldest first: the latest ``limit`` of them (None: all), of trial ``trial_number``
        only when it is given."""
        a = actions.c
        query = select(actions).where(a.study_id == study_id)
        if trial_number is not None:
            query = query.where(a.trial_number == trial_number)
        query = query.order_by(a.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read.connect() as conn:
            rows = conn.execute(query).all()
        return [
            ActionRecord(r.id, r.study_id, r.created_at, r.who, r.kind, r.trial_number, json.loads(r.details))
            for r in reversed(rows)
        ]

    # ------------------------------------------------------------------ acting on trials
    def enqueue_trial(self, study_id: int, params: Mapping[str, Any], who: str) -> int:
        """A new WAITING trial to run ``params`` (the sampler proposes the others), recorded as an ``enqueue``
        action; its number. Raises ``RunFull(None)`` when the study's trial budget is spent."""
        with self.engine.begin() as conn:
            _trial_id, number = self._create_trial(
                conn, study_id, state="WAITING", system_attrs={ENQUEUED_KEY: dict(params)}
            )
            self._record(conn, study_id, "enqueue", who, {"params": dict(params)}, number)
        return number

    def steer_trial(self, study_id: int, number: int, action: str, who: str) -> ActionRecord:
        """``action`` (``stop``, ``pause`` or ``resume``) on trial ``number``, recorded; raises
        ``TrialNotFoundError`` or ``TrialActionError`` (the trial's state does not allow it) naming the trial."""
        fits = _STEERS[action]
        t = trials.c
        with self.engine.begin() as conn:
            version = self._tick(conn, study_id)  # the study's row lock: no worker writes the trial meanwhile
            row = conn.execute(select(t.id, t.state).where(t.study_id == study_id, t.number == number)).first()
            if row is None:
                raise TrialNotFoundError(self._no_trial(conn, study_id, number))
            if row.state not in fits:
                raise TrialActionError(_wrong_state(self._name(conn, study_id), number, row.state, action))
            state, result = fits[row.state]
            if state is None:  # a request its worker (or the next free one) carries out
                values: dict[str, Any] = {"request": _dumps({"action": action, "who": who})}
            else:
                reason = HandRequest(action, who).reason
                values = {"state": state, "error": reason, "completed_at": self.clock.time(), "request": None}
            conn.execute(update(trials).where(t.id == row.id, t.state == row.state).values(version=version, **values))
            return self._record(conn, study_id, action, who, {"state": row.state, "result": result}, number)

    def mark_trial(
        self,
        study_id: int,
        number: int,
        who: str,
        *,
        note: str | None = None,
        tag: str | None = None,
        untag: str | None = None,
    ) -> ActionRecord:
        """Set trial ``number``'s note (``""`` clears it), add ``tag`` or remove ``untag`` (one of the three),
        recorded as a ``note``, ``tag`` or ``untag`` action."""
        t = trials.c
        with self.engine.begin() as conn:
            version = self._tick(conn, study_id)  # orders this read-merge-write with the workers' (write_trial)
            query = select(t.id, t.state, t.system_attrs).where(t.study_id == study_id, t.number == number)
            found = conn.execute(query).first()
            if found is None:
                raise TrialNotFoundError(self._no_trial(conn, study_id, number))
            attrs = json.loads(found.system_attrs or "{}")
            tags = list(attrs.get(TAGS_KEY, ()))
            if note is not None:
                kind, details = "note", {"note": note}
                attrs[NOTE_KEY] = note
                if not note:
                    del attrs[NOTE_KEY]
            elif tag is not None:
                kind, details = "tag", {"tag": tag}
                attrs[TAGS_KEY] = tags + ([tag] if tag not in tags else [])
            elif untag is not None:
                if untag not in tags:
                    name = self._name(conn, study_id)
                    has = f"its tags: {', '.join(tags)}" if tags else "it has none"
                    raise TrialActionError(f"trial {number} of study {name!r} has no tag {untag!r} ({has})")
                kind, details = "untag", {"tag": untag}
                attrs[TAGS_KEY] = [x for x in tags if x != untag]
                if not attrs[TAGS_KEY]:
                    del attrs[TAGS_KEY]
            else:
                raise ValueError("mark_trial: give note, tag or untag")
            conn.execute(update(trials).where(t.id == found.id).values(system_attrs=_dumps(attrs), version=version))
            return self._record(conn, study_id, kind, who, details, number)

    # ------------------------------------------------------------------ narrowing the space
    def narrow_param(
        self,
        study_id: int,
        name: str,
        entry: Mapping[str, Any],
        kind: str,
        who: str,
        details: Mapping[str, Any],
        outside: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> ActionRecord:
        """Store ``entry`` as the study's narrowing of parameter ``name`` (``config["narrowed"][name]``) and grow
        its ``config_version``, so that every running worker applies it from its next proposal; end each PAUSED
        or WAITING trial whose parameters (or enqueued ones) ``outside`` gives a reason for as PRUNED with that
        reason. One transaction, recorded as a ``kind`` action whose details list the trials ``retired``."""
        s, t = studies.c, trials.c
        with self.engine.begin() as conn:
            version = self._tick(conn, study_id)  # the study's row lock: narrows and trial writes queue on it
            config = json.loads(conn.execute(select(s.config).where(s.id == study_id)).scalar_one())
            config["narrowed"] = {**config.get("narrowed", {}), name: dict(entry)}
            conn.execute(
                update(studies)
                .where(s.id == study_id)
                .values(config=_dumps(config), config_version=s.config_version + 1)
            )
            retired: list[int] = []
            if outside is not None:
                query = select(t.id, t.number, t.state, t.params, t.system_attrs).where(
                    t.study_id == study_id, t.state.in_(("PAUSED", "WAITING"))
                )
                for row in conn.execute(query).all():
                    enqueued = json.loads(row.system_attrs or "{}").get(ENQUEUED_KEY) or {}
                    reason = outside({**enqueued, **json.loads(row.params or "{}")})
                    if reason is not None:
                        conn.execute(
                            update(trials)
                            .where(t.id == row.id, t.state == row.state)
                            .values(
                                state="PRUNED",
                                error=reason,
                                completed_at=self.clock.time(),
                                request=None,
                                version=version,
                            )
                        )
                        retired.append(row.number)
            said = {} if outside is None else {"retired": sorted(retired)}
            return self._record(conn, study_id, kind, who, {**details, **said}, None)

    # ------------------------------------------------------------------ messages
    def _name(self, conn: Connection, study_id: int) -> str:
        return str(conn.execute(select(studies.c.name).where(studies.c.id == study_id)).scalar())

    def _no_trial(self, conn: Connection, study_id: int, number: int) -> str:
        last = conn.execute(select(func.max(trials.c.number)).where(trials.c.study_id == study_id)).scalar()
        known = "it has no trials yet" if last is None else f"its trials are numbered 0 to {last}"
        return f"study {self._name(conn, study_id)!r} has no trial {number} ({known})"


def _wrong_state(study: str, number: int, state: str, action: str) -> str:
    states = list(_STEERS[action])
    allowed = states[0] if len(states) == 1 else f"{', '.join(states[:-1])} or {states[-1]}"
    text = f"trial {number} of study {study!r} is {state}: only a {allowed} trial can be {_DONE[action]}"
    if action == "resume" and state in ("COMPLETE", "PRUNED", "FAILED"):
        text += "; to run its parameters again, enqueue them (study.enqueue, itero enqueue)"
    elif action == "pause" and state == "PAUSED":
        text += " (it is paused already)"
    elif action == "pause" and state == "WAITING":
        text += "; stop it instead, or let it run and pause it then"
    return text


_DONE = {"stop": "stopped", "pause": "paused", "resume": "resumed"}
