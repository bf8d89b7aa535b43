"""Escalation tables: rules, policies, on-call rotations, integrations, incidents, their
timeline, durable timers, notifications, and the spike counters.

Idempotency lives in unique keys: an open incident holds its dedup key in
``incident.dedup_slot`` (unique), so a wave of matching messages opens one incident even
when several workers process it at once; a timer fires by the conditional update that
sets ``fired_at`` in the same transaction as its effects.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

import inbox.models  # noqa: F401  (tables this module's foreign keys point to)
import people.models  # noqa: F401
from app.db import BigIntId, JsonType, UTCDateTime, utcnow


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"


SEVERITY_RANK = {Severity.critical: 1, Severity.high: 2, Severity.medium: 3, Severity.low: 4}


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


STATUS_RANK = {IncidentStatus.open: 1, IncidentStatus.acknowledged: 2, IncidentStatus.resolved: 3}


class IntegrationKind(StrEnum):
    email = "email"  # an e-mail address (a distribution list, a pager gateway)
    slack = "slack"  # a Slack-compatible incoming webhook URL
    webhook = "webhook"  # a signed outgoing webhook (Standard Webhooks)


class NotificationChannel(StrEnum):
    websocket = "websocket"
    email = "email"
    slack = "slack"
    webhook = "webhook"


class NotificationStatus(StrEnum):
    queued = "queued"  # waiting for the dispatcher (first attempt or a retry)
    sent = "sent"  # handed over (an SMTP server accepted it)
    delivered = "delivered"  # the receiver confirmed (HTTP 2xx; websocket event published)
    failed = "failed"  # given up: a permanent error or too many attempts


class TimerKind(StrEnum):
    escalate = "escalate"  # notify the next level of the incident's policy
    ack_timeout = "ack_timeout"  # an acknowledged incident still unresolved: escalate again


class Rule(SQLModel, table=True):
    __tablename__ = "escalation_rule"
    __table_args__ = (sa.Index("ix_escalation_rule_position", "enabled", "position", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    position: int = 0  # evaluated in ascending position, then id
    enabled: bool = True
    stop: bool = False  # when it matches, later rules are not evaluated
    conditions: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonType)
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Policy(SQLModel, table=True):
    __tablename__ = "escalation_policy"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    # [{"delay_s": 300, "targets": {"user_ids": [], "team_ids": [], "rotation_ids": [],
    #   "integration_ids": []}}, ...] validated by escalation.schemas.PolicyLevel
    levels: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonType)
    repeat_count: int = 0  # passes over all levels after the first
    ack_timeout_s: int | None = None  # acknowledged but unresolved: escalate again after this
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Rotation(SQLModel, table=True):
    __tablename__ = "oncall_rotation"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    participant_ids: list[int] = Field(default_factory=list, sa_type=JsonType)  # user ids
    handover_at: datetime = Field(sa_type=UTCDateTime, nullable=False)  # a shift starts here
    shift_s: int = 7 * 24 * 3600
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RotationOverride(SQLModel, table=True):
    __tablename__ = "oncall_override"
    __table_args__ = (sa.Index("ix_oncall_override_window", "rotation_id", "start_at", "end_at"),)

    id: int | None = Field(default=None, primary_key=True)
    rotation_id: int = Field(foreign_key="oncall_rotation.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    start_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Integration(SQLModel, table=True):
    __tablename__ = "integration"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=2000)  # slack and webhook
    # whsec_... for signed webhooks. Never returned after creation, never logged.
    secret: str | None = Field(default=None, max_length=500)
    email_address: str | None = Field(default=None, max_length=320)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        sa.Index("ix_incident_status_severity", "status", "severity_rank", "id"),
        sa.Index("ix_incident_dedup_key", "dedup_key"),
        sa.UniqueConstraint("dedup_slot", name="uq_incident_dedup_slot"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    title: str = Field(max_length=300)
    severity: str = Field(default=Severity.high, max_length=16)
    severity_rank: int = 2  # 1 = critical; kept with severity, for sorting
    status: str = Field(default=IncidentStatus.open, max_length=16)
    status_rank: int = 1  # 1 = open, 2 = acknowledged, 3 = resolved
    owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    dedup_key: str | None = Field(default=None, max_length=300)
    # The dedup key while the incident takes new messages (unique; NULL once the window
    # lapsed or the incident was resolved). The race-safe half of the dedup.
    dedup_slot: str | None = Field(default=None, max_length=300)
    dedup_window_minutes: int = 60
    rule_id: int | None = Field(default=None, foreign_key="escalation_rule.id", ondelete="SET NULL")
    policy_id: int | None = Field(
        default=None, foreign_key="escalation_policy.id", ondelete="SET NULL"
    )
    # Escalation state: the level last notified (1-based; 0 = none), the pass over the
    # levels (1-based), and an epoch that every start/stop bumps (stale timers see it).
    escalation_level: int = 0
    escalation_round: int = 0
    escalation_epoch: int = 0
    message_count: int = 0
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_attached_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class IncidentConversation(SQLModel, table=True):
    __tablename__ = "incident_conversation"
    __table_args__ = (sa.Index("ix_incident_conversation_conversation", "conversation_id"),)

    incident_id: int = Field(
        foreign_key="incident.id", primary_key=True, sa_type=BigIntId, ondelete="CASCADE"
    )
    conversation_id: int = Field(
        foreign_key="conversation.id", primary_key=True, sa_type=BigIntId, ondelete="CASCADE"
    )
    attached_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    attached_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")


class IncidentMessage(SQLModel, table=True):
    __tablename__ = "incident_message"
    __table_args__ = (sa.Index("ix_incident_message_message", "message_id"),)

    incident_id: int = Field(
        foreign_key="incident.id", primary_key=True, sa_type=BigIntId, ondelete="CASCADE"
    )
    message_id: int = Field(
        foreign_key="message.id", primary_key=True, sa_type=BigIntId, ondelete="CASCADE"
    )
    rule_id: int | None = Field(default=None, foreign_key="escalation_rule.id", ondelete="SET NULL")
    attached_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    attached_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")


class IncidentEvent(SQLModel, table=True):
    """The incident's timeline: one row per step, in order."""

    __tablename__ = "incident_event"
    __table_args__ = (sa.Index("ix_incident_event_incident", "incident_id", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    incident_id: int = Field(foreign_key="incident.id", sa_type=BigIntId, ondelete="CASCADE")
    kind: str = Field(max_length=64)
    actor_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    actor: str = Field(default="system", max_length=100)  # "user:3", "rule:7", "system"
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Timer(SQLModel, table=True):
    """A durable timer. Claimed with a lease, fired once by the update that sets fired_at."""

    __tablename__ = "escalation_timer"
    __table_args__ = (
        sa.Index(
            "ix_escalation_timer_due",
            "due_at",
            sqlite_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
            postgresql_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
        ),
        sa.Index("ix_escalation_timer_incident", "incident_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    kind: str = Field(max_length=32)
    incident_id: int | None = Field(
        default=None, foreign_key="incident.id", sa_type=BigIntId, ondelete="CASCADE"
    )
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Notification(SQLModel, table=True):
    """One delivery to one target, with its state; the dispatcher works the queued ones."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.Index(
            "ix_notification_due",
            "next_attempt_at",
            sqlite_where=sa.text("status = 'queued'"),
            postgresql_where=sa.text("status = 'queued'"),
        ),
        sa.Index("ix_notification_incident", "incident_id", "id"),
        sa.UniqueConstraint("delivery_id", name="uq_notification_delivery_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    incident_id: int | None = Field(
        default=None, foreign_key="incident.id", sa_type=BigIntId, ondelete="CASCADE"
    )
    message_id: int | None = Field(
        default=None, foreign_key="message.id", sa_type=BigIntId, ondelete="SET NULL"
    )
    channel: str = Field(max_length=16)
    target: str = Field(max_length=2000)  # "user:3", an address, "integration:5"
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    integration_id: int | None = Field(
        default=None, foreign_key="integration.id", ondelete="SET NULL"
    )
    reason: str = Field(default="", max_length=100)  # "level 2, round 1", "rule 4"
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    # Standard Webhooks "webhook-id": the same on every retry, so receivers deduplicate.
    delivery_id: str = Field(max_length=64)
    status: str = Field(default=NotificationStatus.queued, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=2000)
    response_code: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SpikeCounter(SQLModel, table=True):
    """Messages per topic and minute bucket: the live stream's volume against its baseline."""

    __tablename__ = "spike_counter"

    topic: str = Field(primary_key=True, max_length=200)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    message_count: int = 0
    negative_count: int = 0
