"""The rule engine: a processing hook that evaluates the rules for each processed message
inside the processing transaction, applies their actions, and records on the message
which rules fired and why (``message.escalation``).

Rules run in position order; a rule's conversation actions take effect at once (a later
rule sees the labels or team an earlier one set). Incident actions are grouped by dedup key
and applied in key order, so that concurrent transactions lock incidents in one order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from app.logging import get_logger
from app.sql import insert_for
from escalation import incidents
from escalation.conditions import Check, evaluate
from escalation.env import Env
from escalation.notify.outbox import notify
from escalation.policies import start_policy
from escalation.rules import CompiledRule, enabled_rules
from escalation.schemas import (
    AddLabels,
    Assign,
    Notify,
    OpenIncident,
    RouteTeam,
    SetPriority,
    StartPolicy,
)
from escalation.spike import SpikeDetector, top_category
from escalation.templates import excerpt, render
from inbox.events import emit_conversation_updated
from inbox.models import Author, Conversation, ConversationLabel, Message
from inbox.processing import ProcessedMessage

log = get_logger(__name__)
message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]
label_t = ConversationLabel.__table__  # type: ignore[attr-defined]
RECENT_LIMIT = 2000  # messages looked at for attach_recent_minutes


@dataclass(slots=True)
class Subject:
    """A processed message as the rules see it."""

    message_id: int
    conversation_id: int
    text: str
    facts: dict[str, Any]
    template_values: dict[str, Any]
    trace: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class IncidentRequest:
    subject: Subject
    rule: CompiledRule
    action: OpenIncident
    notify: Notify | None
    policy: StartPolicy | None
    checks: list[Check]
    record: dict[str, Any]  # the open_incident entry of the message's trace, filled in later
    taken: list[dict[str, Any]]  # all actions of this rule in the message's trace


async def _subjects(
    session: AsyncSession, *conditions: sa.ColumnElement[bool], limit: int | None = None
) -> list[Subject]:
    """Messages as the rules see them, oldest first."""
    m, c, a = message_t.c, conversation_t.c, author_t.c
    rows = (
        (
            await session.execute(
                sa.select(
                    m.id,
                    m.conversation_id,
                    m.channel_id,
                    m.text,
                    m.language,
                    m.urgency,
                    m.triage,
                    c.platform,
                    c.status,
                    c.team_id,
                    a.reach_followers,
                )
                .select_from(
                    message_t.join(conversation_t, c.id == m.conversation_id).outerjoin(
                        author_t, a.id == m.author_id
                    )
                )
                .where(*conditions)
                .order_by(m.id)
                .limit(limit)
            )
        )
        .mappings()
        .all()
    )
    labels: dict[int, list[str]] = defaultdict(list)
    conversation_ids = sorted({r["conversation_id"] for r in rows})
    if conversation_ids:
        for cid, label in await session.execute(
            sa.select(label_t.c.conversation_id, label_t.c.label).where(
                label_t.c.conversation_id.in_(conversation_ids)
            )
        ):
            labels[cid].append(label)
    subjects = []
    for r in rows:
        triage: dict[str, Any] = r["triage"] or {}
        categories: dict[str, float] = triage.get("categories") or {}
        facts: dict[str, Any] = {
            "urgency": r["urgency"],
            **{f"category.{name}": p for name, p in categories.items()},
            "sentiment": triage.get("sentiment"),
            "platform": r["platform"],
            "channel_id": r["channel_id"],
            "language": r["language"] or triage.get("language"),
            "text": r["text"],
            "author.followers": r["reach_followers"],
            "conversation.status": r["status"],
            "conversation.team_id": r["team_id"],
            "conversation.labels": list(labels[r["conversation_id"]]),
        }
        subjects.append(
            Subject(
                message_id=r["id"],
                conversation_id=r["conversation_id"],
                text=r["text"],
                facts=facts,
                template_values={
                    "message_id": r["id"],
                    "conversation_id": r["conversation_id"],
                    "channel_id": r["channel_id"],
                    "platform": r["platform"],
                    "language": facts["language"],
                    "sentiment": facts["sentiment"],
                    "top_category": top_category(triage) or "none",
                    "team_id": r["team_id"],
                    "urgency": r["urgency"],
                    "excerpt": excerpt(r["text"]),
                },
            )
        )
    return subjects


class RuleEngine:
    def __init__(self, env: Env, *, spike: SpikeDetector | None = None) -> None:
        self.env = env
        self.spike = spike

    async def __call__(self, session: AsyncSession, processed: list[ProcessedMessage]) -> None:
        """The :data:`inbox.processing.ProcessedHook`.

        Runs in a savepoint: a rule that fails for a reason other than the database (a bug,
        a policy deleted meanwhile) is logged and undone, and the messages are processed
        all the same rather than blocking the inbox. Database errors propagate, so the
        batch is retried as a whole.
        """
        if not processed:
            return
        callbacks = session.info.setdefault("after_commit", [])
        pending = len(callbacks)
        try:
            async with session.begin_nested():
                await self.evaluate(session, processed)
        except DBAPIError:
            raise
        except Exception:
            del callbacks[pending:]  # events of the undone work must not be published
            log.exception("escalation.rules_failed", message_ids=[p.id for p in processed])

    async def evaluate(self, session: AsyncSession, processed: Sequence[ProcessedMessage]) -> None:
        now = self.env.now()
        rules = await enabled_rules(session)
        if self.spike is not None:
            await self.spike.record(
                session,
                at=now,
                messages=[
                    (self.spike.topic(p.triage), (p.triage or {}).get("sentiment") == "negative")
                    for p in processed
                ],
            )
        if not rules:
            return
        subjects = await _subjects(session, message_t.c.id.in_(sorted(p.id for p in processed)))
        if self.spike is not None and any(r.uses_spike for r in rules):
            topics = {p.id: self.spike.topic(p.triage) for p in processed}
            stats = await self.spike.stats(
                session, at=now, topics={t for t in topics.values() if t}
            )
            for subject in subjects:
                topic = topics.get(subject.message_id)
                if topic in stats:
                    subject.facts |= stats[topic].facts()

        changed: dict[int, dict[str, Any]] = defaultdict(dict)
        requests: list[IncidentRequest] = []
        for subject in subjects:
            for rule in rules:
                checks: list[Check] = []
                if not evaluate(rule.condition, subject.facts, checks):
                    continue
                await self._fire(session, subject, rule, checks, changed, requests)
                if rule.stop:
                    break
        await self._incidents(session, requests)
        # Each message's line carries the id of the webhook that brought it: a batch mixes
        # deliveries, so the worker's context cannot speak for all of them.
        correlation_ids = {p.id: p.correlation_id for p in processed}
        for subject in subjects:
            if subject.trace:
                await session.execute(
                    sa.update(message_t)
                    .where(message_t.c.id == subject.message_id)
                    .values(escalation=subject.trace)
                )
                log.info(
                    "escalation.rules_fired",
                    message_id=subject.message_id,
                    rule_ids=[t["rule_id"] for t in subject.trace],
                    correlation_id=correlation_ids.get(subject.message_id),
                )
        for conversation_id in sorted(changed):
            await emit_conversation_updated(session, conversation_id, changed[conversation_id])

    async def _fire(
        self,
        session: AsyncSession,
        subject: Subject,
        rule: CompiledRule,
        checks: list[Check],
        changed: dict[int, dict[str, Any]],
        requests: list[IncidentRequest],
    ) -> None:
        taken: list[dict[str, Any]] = []
        record = {
            "rule_id": rule.id,
            "rule_name": rule.name,
            "at": self.env.now().isoformat(),
            "conditions": [c.as_dict() for c in checks],
            "actions": taken,
        }
        subject.trace.append(record)
        cid = subject.conversation_id
        c = conversation_t.c
        open_action = next((a for a in rule.actions if isinstance(a, OpenIncident)), None)
        for action in rule.actions:
            if isinstance(action, SetPriority):
                raised = (
                    await session.execute(
                        sa.update(message_t)
                        .where(
                            message_t.c.id == subject.message_id,
                            sa.or_(
                                message_t.c.urgency.is_(None), message_t.c.urgency < action.urgency
                            ),
                        )
                        .values(urgency=action.urgency)
                        .returning(message_t.c.id)
                    )
                ).first()
                await session.execute(
                    sa.update(conversation_t)
                    .where(c.id == cid, c.urgency < action.urgency)
                    .values(urgency=action.urgency)
                )
                if raised:
                    subject.facts["urgency"] = action.urgency
                    changed[cid]["urgency"] = action.urgency
                taken.append(
                    {"type": action.type, "urgency": action.urgency, "changed": bool(raised)}
                )
            elif isinstance(action, RouteTeam):
                await session.execute(
                    sa.update(conversation_t).where(c.id == cid).values(team_id=action.team_id)
                )
                subject.facts["conversation.team_id"] = action.team_id
                changed[cid]["team_id"] = action.team_id
                taken.append({"type": action.type, "team_id": action.team_id})
            elif isinstance(action, Assign):
                await session.execute(
                    sa.update(conversation_t).where(c.id == cid).values(assignee_id=action.user_id)
                )
                changed[cid]["assignee_id"] = action.user_id
                taken.append({"type": action.type, "user_id": action.user_id})
            elif isinstance(action, AddLabels):
                new = [lb for lb in action.labels if lb not in subject.facts["conversation.labels"]]
                if new:
                    await session.execute(
                        insert_for(session, label_t)
                        .values([{"conversation_id": cid, "label": lb} for lb in new])
                        .on_conflict_do_nothing(index_elements=["conversation_id", "label"])
                    )
                    subject.facts["conversation.labels"] += new
                    changed[cid]["labels"] = sorted(subject.facts["conversation.labels"])
                taken.append({"type": action.type, "labels": action.labels, "added": new})
            elif isinstance(action, OpenIncident):
                entry: dict[str, Any] = {"type": action.type}
                taken.append(entry)
                requests.append(
                    IncidentRequest(
                        subject=subject,
                        rule=rule,
                        action=action,
                        notify=next((a for a in rule.actions if isinstance(a, Notify)), None),
                        policy=next((a for a in rule.actions if isinstance(a, StartPolicy)), None),
                        checks=checks,
                        record=entry,
                        taken=taken,
                    )
                )
            elif isinstance(action, Notify) and open_action is None:
                await notify(
                    session,
                    env=self.env,
                    incident=None,
                    user_ids=action.user_ids,
                    integration_ids=action.integration_ids,
                    reason=f"rule {rule.name!r}",
                    message={"id": subject.message_id, "text": subject.text},
                )
                taken.append(
                    {
                        "type": action.type,
                        "user_ids": action.user_ids,
                        "integration_ids": action.integration_ids,
                    }
                )
            # notify and start_policy with open_incident: handled with the incident

    async def _incidents(self, session: AsyncSession, requests: list[IncidentRequest]) -> None:
        by_key: dict[str, list[IncidentRequest]] = defaultdict(list)
        for request in requests:
            values = request.subject.template_values | {
                "rule_id": request.rule.id,
                "rule_name": request.rule.name,
            }
            by_key[render(request.action.dedup_key, values)[:300]].append(request)
        for key in sorted(by_key):
            await self._incident(session, key, by_key[key])

    async def _attach_recent(
        self,
        session: AsyncSession,
        key: str,
        first: IncidentRequest,
        incident_id: int,
        requests: list[IncidentRequest],
    ) -> list[dict[str, Any]]:
        """Attach earlier messages of the last ``attach_recent_minutes`` whose dedup key,
        rendered for them, is this incident's key."""
        assert first.action.attach_recent_minutes is not None
        now = self.env.now()
        m = message_t.c
        taken = {r.subject.message_id for r in requests}
        recent = await _subjects(
            session,
            m.received_at >= now - timedelta(minutes=first.action.attach_recent_minutes),
            m.processed_at.is_not(None),
            m.deleted_at.is_(None),
            m.id.not_in(sorted(taken)),
            limit=RECENT_LIMIT,
        )
        rule_values = {"rule_id": first.rule.id, "rule_name": first.rule.name}
        entries = []
        for subject in recent:
            if render(first.action.dedup_key, subject.template_values | rule_values)[:300] != key:
                continue
            if await incidents.attach_message(
                session,
                incident_id=incident_id,
                message_id=subject.message_id,
                conversation_id=subject.conversation_id,
                at=now,
                rule_id=first.rule.id,
            ):
                entries.append(
                    await incidents.add_event(
                        session,
                        incident_id=incident_id,
                        kind="message.attached",
                        at=now,
                        actor=f"rule:{first.rule.id}",
                        data={
                            "message_id": subject.message_id,
                            "conversation_id": subject.conversation_id,
                            "excerpt": subject.text[: incidents.EXCERPT_CHARS],
                            "recent": True,
                        },
                    )
                )
        first.record["attached_recent"] = len(entries)
        return entries

    async def _incident(
        self, session: AsyncSession, key: str, requests: list[IncidentRequest]
    ) -> None:
        now = self.env.now()
        first = requests[0]
        values = first.subject.template_values | {
            "rule_id": first.rule.id,
            "rule_name": first.rule.name,
        }
        incident, opened = await incidents.open_or_join(
            session,
            env=self.env,
            dedup_key=key,
            window_minutes=first.action.window_minutes,
            title=render(first.action.title, values),
            severity=first.action.severity,
            rule_id=first.rule.id,
        )
        incident_id = incident["id"]
        entries: list[dict[str, Any]] = []
        for request in requests:
            subject = request.subject
            attached = await incidents.attach_message(
                session,
                incident_id=incident_id,
                message_id=subject.message_id,
                conversation_id=subject.conversation_id,
                at=now,
                rule_id=request.rule.id,
            )
            request.record |= {
                "incident_id": incident_id,
                "dedup_key": key,
                "opened": opened and request is first,
            }
            entries.append(
                await incidents.add_event(
                    session,
                    incident_id=incident_id,
                    kind="rule.fired",
                    at=now,
                    actor=f"rule:{request.rule.id}",
                    data={
                        "rule_id": request.rule.id,
                        "rule_name": request.rule.name,
                        "message_id": subject.message_id,
                        "conditions": [c.as_dict() for c in request.checks if c.matched],
                    },
                )
            )
            if attached:
                entries.append(
                    await incidents.add_event(
                        session,
                        incident_id=incident_id,
                        kind="message.attached",
                        at=now,
                        actor=f"rule:{request.rule.id}",
                        data={
                            "message_id": subject.message_id,
                            "conversation_id": subject.conversation_id,
                            "excerpt": subject.text[: incidents.EXCERPT_CHARS],
                        },
                    )
                )
        if opened and first.action.attach_recent_minutes:
            entries += await self._attach_recent(session, key, first, incident_id, requests)
        incident = await incidents.load(session, incident_id)
        if opened and first.notify is not None:
            entries += await notify(
                session,
                env=self.env,
                incident=incident,
                user_ids=first.notify.user_ids,
                integration_ids=first.notify.integration_ids,
                reason=f"rule {first.rule.name!r}",
                message={"id": first.subject.message_id, "text": first.subject.text},
            )
            first.taken.append(
                {
                    "type": "notify",
                    "incident_id": incident_id,
                    "user_ids": first.notify.user_ids,
                    "integration_ids": first.notify.integration_ids,
                }
            )
        await incidents.emit_incident(session, incidents.INCIDENT_UPDATED, incident, entries)
        if opened and first.policy is not None:
            policy_id = first.policy.policy_id
            try:
                await start_policy(
                    session,
                    env=self.env,
                    incident_id=incident_id,
                    policy_id=policy_id,
                    actor=f"rule:{first.rule.id}",
                )
            except DomainError as exc:  # the policy is gone: the incident stands regardless
                log.error("escalation.policy_not_started", policy_id=policy_id, error=exc.message)
                first.taken.append(
                    {"type": "start_policy", "policy_id": policy_id, "error": exc.message}
                )
            else:
                first.taken.append({"type": "start_policy", "policy_id": policy_id})
