"""Request and response bodies of the escalation API. Table models are never bodies.

Rules are validated here, structure and semantics: the condition grammar
(:mod:`escalation.conditions`), the actions and their templates. References to rows
(teams, users, policies, integrations, rotations) are checked by the services on save.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from escalation.conditions import Condition, check_size
from escalation.models import IntegrationKind, Severity
from escalation.templates import check_template
from inbox.schemas import ConversationPublic, MessagePublic

_LABEL = re.compile(r"^[\w][\w .:/-]{0,63}$", re.UNICODE)
MAX_DELAY_S = 7 * 24 * 3600
MAX_INT = 2_147_483_647  # users, teams, rules, policies, rotations, integrations
MAX_BIGINT = 9_223_372_036_854_775_807  # incidents, conversations, messages
SmallId = Annotated[int, Field(ge=1, le=MAX_INT)]
BigId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
IdList = Annotated[list[SmallId], Field(default_factory=list, max_length=50)]
Template = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(check_template)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- rules -------------------------------------------------------------------------------


class SetPriority(_Body):
    """Raise the message's (and so its conversation's) urgency to at least ``urgency``."""

    type: Literal["set_priority"]
    urgency: int = Field(ge=0, le=100)


class RouteTeam(_Body):
    type: Literal["route_team"]
    team_id: SmallId


class Assign(_Body):
    type: Literal["assign"]
    user_id: SmallId


def _check_label(label: str) -> str:
    label = label.strip()
    if not _LABEL.match(label):
        raise ValueError(f"not a usable label: {label!r}")
    return label


class AddLabels(_Body):
    type: Literal["add_labels"]
    labels: list[Annotated[str, AfterValidator(_check_label)]] = Field(min_length=1, max_length=20)


class OpenIncident(_Body):
    """Open an incident, or attach to the open one with the same dedup key when its last
    message arrived within ``window_minutes``."""

    type: Literal["open_incident"]
    title: Template = "{top_category}: {excerpt}"
    severity: Severity = Severity.high
    dedup_key: Template = "{rule_id}:{conversation_id}"
    window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # On opening, also attach the messages of the last N minutes with the same dedup key
    # (a spike rule fires at the 20th comment: this brings in the first 19).
    attach_recent_minutes: int | None = Field(default=None, ge=1, le=24 * 60)


class Notify(_Body):
    """Notify users (websocket, and e-mail when SMTP is configured) and integrations.
    With ``open_incident`` in the same rule: only when the incident is opened."""

    type: Literal["notify"]
    user_ids: IdList
    integration_ids: IdList

    @model_validator(mode="after")
    def _someone(self) -> Notify:
        if not self.user_ids and not self.integration_ids:
            raise ValueError("notify needs user_ids or integration_ids")
        return self


class StartPolicy(_Body):
    """Start an escalation policy on the incident this rule opens."""

    type: Literal["start_policy"]
    policy_id: SmallId


Action = Annotated[
    SetPriority | RouteTeam | Assign | AddLabels | OpenIncident | Notify | StartPolicy,
    Field(discriminator="type"),
]
SINGLE_ACTIONS = ("set_priority", "route_team", "assign", "open_incident", "start_policy")


def _check_actions(actions: list[Any]) -> None:
    kinds = [a.type for a in actions]
    for kind in SINGLE_ACTIONS:
        if kinds.count(kind) > 1:
            raise ValueError(f"a rule has at most one {kind} action")
    if "start_policy" in kinds and "open_incident" not in kinds:
        raise ValueError("start_policy needs an open_incident action in the same rule")


class RuleCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    position: int | None = Field(default=None, ge=0, le=1_000_000)  # None: after the last
    enabled: bool = True
    stop: bool = False
    conditions: Condition
    actions: list[Action] = Field(min_length=1, max_length=20)

    @field_validator("conditions")
    @classmethod
    def _small_enough(cls, conditions: Condition) -> Condition:
        check_size(conditions)
        return conditions

    @model_validator(mode="after")
    def _actions_fit(self) -> RuleCreate:
        _check_actions(self.actions)
        return self


class RuleUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    enabled: bool | None = None
    stop: bool | None = None
    conditions: Condition | None = None
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=20)

    @field_validator("conditions")
    @classmethod
    def _small_enough(cls, conditions: Condition | None) -> Condition | None:
        if conditions is not None:
            check_size(conditions)
        return conditions

    @model_validator(mode="after")
    def _actions_fit(self) -> RuleUpdate:
        if self.actions is not None:
            _check_actions(self.actions)
        return self


class RulePublic(BaseModel):
    id: int
    name: str
    description: str
    position: int
    enabled: bool
    stop: bool
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_by: int | None
    created_at: datetime
    updated_at: datetime


# --- policies ----------------------------------------------------------------------------


class PolicyLevel(_Body):
    """Who is notified at this level, and how long they have to acknowledge before the
    escalation moves on to the next level (after the last: repeats from level 1)."""

    delay_s: int = Field(ge=1, le=MAX_DELAY_S)
    user_ids: IdList
    team_ids: IdList
    rotation_ids: IdList
    integration_ids: IdList

    @model_validator(mode="after")
    def _someone(self) -> PolicyLevel:
        if not (self.user_ids or self.team_ids or self.rotation_ids or self.integration_ids):
            raise ValueError(
                "a level needs at least one target: user_ids, team_ids, rotation_ids "
                "or integration_ids"
            )
        return self


class PolicyCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    levels: list[PolicyLevel] = Field(min_length=1, max_length=10)
    repeat_count: int = Field(default=0, ge=0, le=20)
    ack_timeout_s: int | None = Field(default=None, ge=1, le=MAX_DELAY_S)


class PolicyUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    levels: list[PolicyLevel] | None = Field(default=None, min_length=1, max_length=10)
    repeat_count: int | None = Field(default=None, ge=0, le=20)
    ack_timeout_s: int | None = Field(default=None, ge=1, le=MAX_DELAY_S)


class PolicyPublic(BaseModel):
    id: int
    name: str
    description: str
    levels: list[dict[str, Any]]
    repeat_count: int
    ack_timeout_s: int | None
    created_at: datetime
    updated_at: datetime


# --- on-call rotations --------------------------------------------------------------------


def _unique(ids: list[int]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise ValueError("a participant appears twice")
    return ids


class RotationCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    participant_ids: Annotated[list[SmallId], AfterValidator(_unique)] = Field(
        min_length=1, max_length=100
    )
    handover_at: AwareDatetime  # one shift starts here; the others every shift_s around it
    shift_s: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)


class RotationUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    participant_ids: Annotated[list[SmallId], AfterValidator(_unique)] | None = Field(
        default=None, min_length=1, max_length=100
    )
    handover_at: AwareDatetime | None = None
    shift_s: int | None = Field(default=None, ge=60, le=90 * 24 * 3600)


class OverridePublic(BaseModel):
    id: int
    rotation_id: int
    user_id: int
    start_at: datetime
    end_at: datetime
    created_at: datetime


class RotationPublic(BaseModel):
    id: int
    name: str
    participant_ids: list[int]
    handover_at: datetime
    shift_s: int
    on_call_user_id: int | None  # now
    overrides: list[OverridePublic]
    created_at: datetime
    updated_at: datetime


class OverrideCreate(_Body):
    user_id: SmallId
    start_at: AwareDatetime
    end_at: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> OverrideCreate:
        if self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self


class OnCallPublic(BaseModel):
    rotation_id: int
    at: datetime
    user_id: int | None
    source: Literal["override", "rotation", "nobody"]


# --- integrations --------------------------------------------------------------------------


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("an http(s) URL is needed")
    return url


def check_whsec(secret: str) -> str:
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return secret


class IntegrationCreate(_Body):
    kind: IntegrationKind
    name: str = Field(min_length=1, max_length=200)
    url: Annotated[str, AfterValidator(_http_url)] | None = Field(default=None, max_length=2000)
    secret: Annotated[str, AfterValidator(check_whsec)] | None = Field(
        default=None, max_length=500
    )  # webhook only; generated when not given
    email_address: str | None = Field(default=None, min_length=3, max_length=320)

    @model_validator(mode="after")
    def _fits_kind(self) -> IntegrationCreate:
        if self.kind in (IntegrationKind.slack, IntegrationKind.webhook) and not self.url:
            raise ValueError(f"a {self.kind.value} integration needs a url")
        if self.kind is IntegrationKind.email and not self.email_address:
            raise ValueError("an email integration needs an email_address")
        if self.kind is not IntegrationKind.webhook and self.secret:
            raise ValueError("only webhook integrations have a secret")
        if self.email_address and "@" not in self.email_address:
            raise ValueError("email_address is not an e-mail address")
        return self


class IntegrationUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: Annotated[str, AfterValidator(_http_url)] | None = Field(default=None, max_length=2000)
    email_address: str | None = Field(default=None, min_length=3, max_length=320)
    is_active: bool | None = None


class IntegrationPublic(BaseModel):
    """Never the secret; a Slack URL (itself a credential) only as its host."""

    id: int
    kind: str
    name: str
    url: str | None
    email_address: str | None
    is_active: bool
    has_secret: bool
    created_at: datetime


class IntegrationCreated(IntegrationPublic):
    """Returned once, at creation: the signing secret to give the receiver."""

    secret: str | None


# --- incidents -----------------------------------------------------------------------------


class IncidentPublic(BaseModel):
    id: int
    title: str
    severity: str
    status: str
    owner_id: int | None
    dedup_key: str | None
    rule_id: int | None
    policy_id: int | None
    escalation_level: int
    escalation_round: int
    message_count: int
    opened_at: datetime
    last_attached_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    resolved_at: datetime | None
    resolved_by: int | None
    updated_at: datetime


class TimelineEntry(BaseModel):
    id: int
    kind: str
    actor: str
    actor_id: int | None
    data: dict[str, Any]
    at: datetime


class TimerPublic(BaseModel):
    id: int
    kind: str
    due_at: datetime
    data: dict[str, Any]


class IncidentDetail(IncidentPublic):
    conversations: list[ConversationPublic]
    messages: list[MessagePublic]
    timeline: list[TimelineEntry]
    pending_timers: list[TimerPublic]


class IncidentCreate(_Body):
    title: str = Field(min_length=1, max_length=300)
    severity: Severity = Severity.high
    owner_id: SmallId | None = None
    policy_id: SmallId | None = None
    message_ids: list[BigId] = Field(default_factory=list, max_length=200)
    conversation_ids: list[BigId] = Field(default_factory=list, max_length=200)


class IncidentUpdate(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    severity: Severity | None = None
    owner_id: SmallId | None = None


class PolicyStart(_Body):
    policy_id: SmallId


class NoteCreate(_Body):
    text: str = Field(min_length=1, max_length=5000)


class AttachMessages(_Body):
    message_ids: list[BigId] = Field(min_length=1, max_length=200)


class AttachConversations(_Body):
    conversation_ids: list[BigId] = Field(min_length=1, max_length=200)


class NotificationPublic(BaseModel):
    id: int
    incident_id: int | None
    message_id: int | None
    channel: str
    target: str
    user_id: int | None
    integration_id: int | None
    reason: str
    delivery_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    response_code: int | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
