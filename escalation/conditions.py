"""The condition language of escalation rules: a tree of ``all`` / ``any`` / ``not`` over
predicates ``{"field", "op", "value"}``, validated with pydantic and evaluated purely.

Each field has a type, and each type its operators:

========== ======================================= =====================================
type       fields                                  operators
========== ======================================= =====================================
number     urgency, category.<name>,               eq ne gt gte lt lte in
           author.followers, spike.count,
           spike.ratio, spike.negative_share
choice     sentiment, conversation.status          eq ne in (values from a fixed set)
string     platform, channel_id, language          eq ne in
id         conversation.team_id (null = no team)   eq ne in
text       text                                    contains_any (case-insensitive), matches
labels     conversation.labels                     contains_any
========== ======================================= =====================================

A field without a value (no triage result, an author without a known follower count)
matches nothing, not even ``ne``; only ``conversation.team_id`` treats null as a value.
``matches`` is a case-insensitive ``re.search``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

CATEGORIES = (
    "safety",
    "threat",
    "legal",
    "press",
    "outage",
    "complaint",
    "toxic",
    "question",
    "praise",
    "spam",
    "fact_claim",
)
SENTIMENTS = ("negative", "neutral", "positive")
CONVERSATION_STATUSES = ("open", "pending", "snoozed", "resolved")
MAX_DEPTH = 8
MAX_PREDICATES = 64
MAX_LIST_ITEMS = 200
MAX_REGEX_CHARS = 500
TEXT_SCAN_CHARS = 20_000  # what ``contains_any`` and ``matches`` look at


class Op(StrEnum):
    eq = "eq"
    ne = "ne"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    in_ = "in"
    contains_any = "contains_any"
    matches = "matches"


class FieldType(StrEnum):
    number = "number"
    choice = "choice"
    string = "string"
    id = "id"
    text = "text"
    labels = "labels"


OPS: dict[FieldType, frozenset[Op]] = {
    FieldType.number: frozenset({Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte, Op.in_}),
    FieldType.choice: frozenset({Op.eq, Op.ne, Op.in_}),
    FieldType.string: frozenset({Op.eq, Op.ne, Op.in_}),
    FieldType.id: frozenset({Op.eq, Op.ne, Op.in_}),
    FieldType.text: frozenset({Op.contains_any, Op.matches}),
    FieldType.labels: frozenset({Op.contains_any}),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    type: FieldType
    choices: tuple[str, ...] = ()
    nullable: bool = False  # null is a value to compare with, not "unknown"


FIELDS: dict[str, FieldSpec] = {
    "urgency": FieldSpec(FieldType.number),
    **{f"category.{name}": FieldSpec(FieldType.number) for name in CATEGORIES},
    "sentiment": FieldSpec(FieldType.choice, SENTIMENTS),
    "platform": FieldSpec(FieldType.string),
    "channel_id": FieldSpec(FieldType.string),
    "language": FieldSpec(FieldType.string),
    "text": FieldSpec(FieldType.text),
    "author.followers": FieldSpec(FieldType.number),
    "conversation.status": FieldSpec(FieldType.choice, CONVERSATION_STATUSES),
    "conversation.team_id": FieldSpec(FieldType.id, nullable=True),
    "conversation.labels": FieldSpec(FieldType.labels),
    "spike.count": FieldSpec(FieldType.number),
    "spike.ratio": FieldSpec(FieldType.number),
    "spike.negative_share": FieldSpec(FieldType.number),
}
SPIKE_FIELDS = frozenset(f for f in FIELDS if f.startswith("spike."))


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and not math.isfinite(value))
    )


def _check_scalar(field: str, spec: FieldSpec, value: Any) -> None:
    if spec.type is FieldType.number:
        if not _is_number(value):
            raise ValueError(f"'{field}' compares with a number, not {value!r}")
    elif spec.type is FieldType.id:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"'{field}' compares with an id (an integer) or null, not {value!r}")
    elif spec.type in (FieldType.string, FieldType.choice):
        if not isinstance(value, str) or not value or len(value) > 200:
            raise ValueError(f"'{field}' compares with a non-empty string, not {value!r}")
        if spec.choices and value not in spec.choices:
            raise ValueError(
                f"'{field}' is one of {', '.join(spec.choices)}; {value!r} is not among them"
            )


def _check_keywords(field: str, value: Any) -> None:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_LIST_ITEMS
        or not all(isinstance(v, str) and v.strip() and len(v) <= 200 for v in value)
    ):
        raise ValueError(
            f"'contains_any' on '{field}' takes a list of 1 to {MAX_LIST_ITEMS} non-empty strings"
        )


class Predicate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Op
    value: Any

    @field_validator("field")
    @classmethod
    def _known_field(cls, field: str) -> str:
        if field not in FIELDS:
            if field.startswith("category."):
                raise ValueError(
                    f"unknown category {field.removeprefix('category.')!r}; "
                    f"known: {', '.join(CATEGORIES)}"
                )
            raise ValueError(f"unknown field {field!r}; known: {', '.join(sorted(FIELDS))}")
        return field

    @model_validator(mode="after")
    def _op_fits_field(self) -> Predicate:
        spec = FIELDS[self.field]
        if self.op not in OPS[spec.type]:
            allowed = ", ".join(sorted(op.value for op in OPS[spec.type]))
            raise ValueError(
                f"op {self.op.value!r} is not valid for '{self.field}' (a {spec.type.value} "
                f"field); use one of: {allowed}"
            )
        if self.op is Op.in_:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"'in' on '{self.field}' takes a non-empty list")
            if len(self.value) > MAX_LIST_ITEMS:
                raise ValueError(f"'in' on '{self.field}' takes at most {MAX_LIST_ITEMS} values")
            for item in self.value:
                _check_scalar(self.field, spec, item)
        elif self.op is Op.contains_any:
            _check_keywords(self.field, self.value)
        elif self.op is Op.matches:
            if not isinstance(self.value, str) or not self.value:
                raise ValueError(f"'matches' on '{self.field}' takes a regular expression")
            if len(self.value) > MAX_REGEX_CHARS:
                raise ValueError(f"the regular expression is longer than {MAX_REGEX_CHARS}")
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(
                    f"the regular expression for '{self.field}' does not compile: {exc}"
                ) from None
        else:
            _check_scalar(self.field, spec, self.value)
        return self


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Condition] = Field(min_length=1, max_length=MAX_PREDICATES)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    any: list[Condition] = Field(min_length=1, max_length=MAX_PREDICATES)


class NotOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    not_: Condition = Field(alias="not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "predicate" if "field" in value or "op" in value else None
    tags: dict[type, str] = {AllOf: "all", AnyOf: "any", NotOf: "not", Predicate: "predicate"}
    return tags.get(type(value))


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[Predicate, Tag("predicate")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message=(
            'a condition is {"all": [...]}, {"any": [...]}, {"not": {...}} '
            'or {"field": ..., "op": ..., "value": ...}'
        ),
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()

ConditionAdapter: TypeAdapter[Condition] = TypeAdapter(Condition)


def predicates(condition: Condition) -> list[Predicate]:
    if isinstance(condition, Predicate):
        return [condition]
    if isinstance(condition, NotOf):
        return predicates(condition.not_)
    children = condition.all if isinstance(condition, AllOf) else condition.any
    return [p for child in children for p in predicates(child)]


def depth(condition: Condition) -> int:
    if isinstance(condition, Predicate):
        return 1
    if isinstance(condition, NotOf):
        return 1 + depth(condition.not_)
    children = condition.all if isinstance(condition, AllOf) else condition.any
    return 1 + max(depth(child) for child in children)


def check_size(condition: Condition) -> None:
    """Refuse trees too deep or too wide to evaluate per message."""
    if depth(condition) > MAX_DEPTH:
        raise ValueError(f"conditions nest deeper than {MAX_DEPTH} levels")
    if len(predicates(condition)) > MAX_PREDICATES:
        raise ValueError(f"conditions have more than {MAX_PREDICATES} predicates")


def dump(condition: Condition) -> dict[str, Any]:
    """The stored JSON form (``not`` under its own name)."""
    dumped: dict[str, Any] = ConditionAdapter.dump_python(condition, by_alias=True, mode="json")
    return dumped


# --- evaluation -------------------------------------------------------------------------

Facts = Mapping[str, Any]


@dataclass(slots=True)
class Check:
    """One predicate as evaluated: what it asked, what the message had, and the answer."""

    field: str
    op: str
    value: Any
    actual: Any
    matched: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "op": self.op,
            "value": self.value,
            "actual": self.actual,
            "matched": self.matched,
        }


_regex_cache: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = _regex_cache.get(pattern)
    if compiled is None:
        if len(_regex_cache) > 1000:
            _regex_cache.clear()
        compiled = _regex_cache[pattern] = re.compile(pattern, re.IGNORECASE)
    return compiled


def _compare(op: Op, actual: Any, value: Any) -> bool:
    if op is Op.eq:
        return bool(actual == value)
    if op is Op.ne:
        return bool(actual != value)
    if op is Op.in_:
        return actual in value
    if op is Op.gt:
        return bool(actual > value)
    if op is Op.gte:
        return bool(actual >= value)
    if op is Op.lt:
        return bool(actual < value)
    if op is Op.lte:
        return bool(actual <= value)
    raise AssertionError(op)  # pragma: no cover


def check(predicate: Predicate, facts: Facts) -> Check:
    spec = FIELDS[predicate.field]
    actual = facts.get(predicate.field)
    op = predicate.op

    def result(matched: bool, shown: Any = actual) -> Check:
        return Check(predicate.field, op.value, predicate.value, shown, matched)

    if actual is None and not spec.nullable:
        return result(False)
    if spec.type is FieldType.text:
        text = str(actual)[:TEXT_SCAN_CHARS]
        if op is Op.contains_any:
            folded = text.casefold()
            found = [k for k in predicate.value if k.strip().casefold() in folded]
            return result(bool(found), found)
        match = _regex(predicate.value).search(text)
        return result(match is not None, match.group(0) if match else None)
    if spec.type is FieldType.labels:
        present = sorted(str(label) for label in actual or ())
        labels = {label.casefold() for label in present}
        found = [k for k in predicate.value if k.strip().casefold() in labels]
        return result(bool(found), present)
    if spec.type is FieldType.number and not _is_number(actual):
        return result(False)
    try:
        return result(_compare(op, actual, predicate.value))
    except TypeError:  # a fact of an unexpected type never matches
        return result(False)


def evaluate(condition: Condition, facts: Facts, trace: list[Check] | None = None) -> bool:
    """Whether ``facts`` satisfy ``condition``; every predicate evaluated lands in ``trace``
    (``all`` and ``any`` stop at the first predicate that decides them)."""
    if isinstance(condition, Predicate):
        outcome = check(condition, facts)
        if trace is not None:
            trace.append(outcome)
        return outcome.matched
    if isinstance(condition, NotOf):
        return not evaluate(condition.not_, facts, trace)
    if isinstance(condition, AllOf):
        return all(evaluate(child, facts, trace) for child in condition.all)
    return any(evaluate(child, facts, trace) for child in condition.any)
