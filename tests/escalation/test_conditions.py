"""The condition language, property-based: every valid tree validates, survives its stored
form and evaluates without error to what a direct reading of it says; arbitrary JSON is
either a valid condition or a ValidationError, never anything else."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from escalation.conditions import (
    CATEGORIES,
    FIELDS,
    OPS,
    AllOf,
    AnyOf,
    ConditionAdapter,
    FieldType,
    NotOf,
    Op,
    Predicate,
    check,
    dump,
    evaluate,
)
from escalation.schemas import RuleCreate
from escalation.templates import check_template, render

numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
words = st.text(
    alphabet=st.characters(categories=("L", "N"), max_codepoint=0x24F), min_size=1, max_size=12
)


@st.composite
def predicates(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(sorted(FIELDS)))
    spec = FIELDS[field]
    op = draw(st.sampled_from(sorted(OPS[spec.type], key=lambda o: o.value)))

    def scalar() -> st.SearchStrategy[Any]:
        if spec.type is FieldType.number:
            return numbers
        if spec.type is FieldType.id:
            return st.one_of(st.none(), st.integers(min_value=1, max_value=10**6))
        if spec.choices:
            return st.sampled_from(spec.choices)
        return words

    if op is Op.in_:
        value: Any = draw(st.lists(scalar(), min_size=1, max_size=5))
    elif op is Op.contains_any:
        value = draw(st.lists(words, min_size=1, max_size=5))
    elif op is Op.matches:
        value = re.escape(draw(words))
    else:
        value = draw(scalar())
    return {"field": field, "op": op.value, "value": value}


conditions = st.recursive(
    predicates(),
    lambda children: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, children),
    ),
    max_leaves=8,
)


@st.composite
def facts(draw: st.DrawFn) -> dict[str, Any]:
    """What a message may look like to the rules, including missing values."""
    out: dict[str, Any] = {}
    for field, spec in FIELDS.items():
        if draw(st.booleans()):
            continue  # unknown
        if spec.type is FieldType.number:
            out[field] = draw(numbers)
        elif spec.type is FieldType.id:
            out[field] = draw(st.one_of(st.none(), st.integers(1, 5)))
        elif spec.type is FieldType.labels:
            out[field] = draw(st.lists(words, max_size=3))
        elif spec.type is FieldType.text:
            out[field] = draw(st.text(max_size=60))
        elif spec.choices:
            out[field] = draw(st.sampled_from(spec.choices))
        else:
            out[field] = draw(words)
    return out


def reference(condition: Any, facts: dict[str, Any]) -> bool:
    """A second, naive reading of the semantics the module documents."""
    if isinstance(condition, AllOf):
        return all(reference(c, facts) for c in condition.all)
    if isinstance(condition, AnyOf):
        return any(reference(c, facts) for c in condition.any)
    if isinstance(condition, NotOf):
        return not reference(condition.not_, facts)
    assert isinstance(condition, Predicate)
    actual, value, op = facts.get(condition.field), condition.value, condition.op
    spec = FIELDS[condition.field]
    if actual is None and not spec.nullable:
        return False
    if op is Op.contains_any:
        if spec.type is FieldType.labels:
            return any(v.strip().casefold() in {a.casefold() for a in actual} for v in value)
        return any(v.strip().casefold() in actual.casefold() for v in value)
    if op is Op.matches:
        return re.search(value, actual, re.IGNORECASE) is not None
    comparisons = {
        Op.eq: lambda: actual == value,
        Op.ne: lambda: actual != value,
        Op.in_: lambda: actual in value,
        Op.gt: lambda: actual > value,
        Op.gte: lambda: actual >= value,
        Op.lt: lambda: actual < value,
        Op.lte: lambda: actual <= value,
    }
    return bool(comparisons[op]())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, facts())
def test_valid_trees_validate_round_trip_and_evaluate_as_documented(
    doc: dict[str, Any], message: dict[str, Any]
) -> None:
    condition = ConditionAdapter.validate_python(doc)
    assert ConditionAdapter.validate_python(dump(condition)) == condition
    trace: list[Any] = []
    result = evaluate(condition, message, trace)
    assert result == reference(condition, message)
    assert trace, "every evaluation explains itself"
    assert all(c.field in FIELDS for c in trace)
    if isinstance(condition, Predicate):
        assert trace[0].matched == result


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.sampled_from(["all", "any", "not", "field", "op", "value", "x"]),
                inner,
                max_size=4,
            ),
        ),
        max_leaves=12,
    )
)
def test_arbitrary_json_is_a_condition_or_a_validation_error(doc: Any) -> None:
    try:
        condition = ConditionAdapter.validate_python(doc)
    except ValidationError as exc:
        assert exc.errors(), "an error names what is wrong"
        return
    evaluate(condition, {})  # whatever validated evaluates


@settings(max_examples=200, deadline=None)
@given(predicates(), st.sampled_from([o for o in Op]))
def test_an_op_foreign_to_the_field_is_refused_naming_the_field(
    doc: dict[str, Any], op: Op
) -> None:
    spec = FIELDS[doc["field"]]
    doc = doc | {"op": op.value}
    if op in OPS[spec.type]:
        return
    with pytest.raises(ValidationError) as refused:
        ConditionAdapter.validate_python(doc)
    assert f"'{doc['field']}'" in str(refused.value) and op.value in str(refused.value)


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"field": "urgency", "op": "contains_any", "value": ["x"]}, "not valid for 'urgency'"),
        ({"field": "text", "op": "gt", "value": 3}, "not valid for 'text'"),
        ({"field": "text", "op": "matches", "value": "(unclosed"}, "does not compile"),
        ({"field": "colour", "op": "eq", "value": "red"}, "unknown field 'colour'"),
        ({"field": "category.weather", "op": "gt", "value": 0.5}, "unknown category 'weather'"),
        ({"field": "sentiment", "op": "eq", "value": "angry"}, "'angry' is not among them"),
        ({"field": "urgency", "op": "gte", "value": "high"}, "compares with a number"),
        ({"field": "urgency", "op": "in", "value": []}, "non-empty list"),
        ({"field": "text", "op": "contains_any", "value": [""]}, "non-empty strings"),
        ({"any": []}, "at least 1 item"),
        ({"all": [{"field": "urgency", "op": "gte", "value": 1, "extra": 2}]}, "Extra inputs"),
        ({"when": "always"}, 'a condition is {"all"'),
    ],
)
def test_bad_conditions_say_what_is_wrong(doc: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ConditionAdapter.validate_python(doc)
    assert says in str(refused.value)


def test_evaluation_details() -> None:
    condition = ConditionAdapter.validate_python(
        {"field": "text", "op": "contains_any", "value": ["Anwalt", "lawyer"]}
    )
    outcome = check(condition, {"text": "Mein ANWALT meldet sich"})  # type: ignore[arg-type]
    assert outcome.matched and outcome.actual == ["Anwalt"]
    regex = ConditionAdapter.validate_python(
        {"field": "text", "op": "matches", "value": r"\bkrankenh\w+"}
    )
    outcome = check(regex, {"text": "ins Krankenhaus gebracht"})  # type: ignore[arg-type]
    assert outcome.matched and outcome.actual == "Krankenhaus"
    unrouted = ConditionAdapter.validate_python(
        {"field": "conversation.team_id", "op": "eq", "value": None}
    )
    assert evaluate(unrouted, {"conversation.team_id": None})
    # Without triage, urgency is unknown: even "ne" does not match.
    assert not evaluate(
        ConditionAdapter.validate_python({"field": "urgency", "op": "ne", "value": 5}), {}
    )
    assert set(CATEGORIES) <= {f.removeprefix("category.") for f in FIELDS}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_templates_accept_only_known_names(template: str) -> None:
    try:
        check_template(template)
    except ValueError:
        return
    render(template, {"channel_id": "c1", "top_category": "safety"})  # never raises


def test_rule_level_checks() -> None:
    base = {"name": "r", "conditions": {"field": "urgency", "op": "gte", "value": 90}}
    with pytest.raises(ValidationError, match="start_policy needs an open_incident"):
        RuleCreate.model_validate(base | {"actions": [{"type": "start_policy", "policy_id": 1}]})
    with pytest.raises(ValidationError, match="at most one route_team"):
        RuleCreate.model_validate(
            base
            | {
                "actions": [
                    {"type": "route_team", "team_id": 1},
                    {"type": "route_team", "team_id": 2},
                ]
            }
        )
    with pytest.raises(ValidationError, match="unknown template name"):
        RuleCreate.model_validate(
            base | {"actions": [{"type": "open_incident", "dedup_key": "{channel_id.__class__}"}]}
        )
    deep: dict[str, Any] = {"field": "urgency", "op": "gte", "value": 1}
    for _ in range(9):
        deep = {"not": deep}
    with pytest.raises(ValidationError, match="nest deeper"):
        RuleCreate.model_validate(
            base | {"conditions": deep, "actions": [{"type": "set_priority", "urgency": 1}]}
        )


def test_incident_title_excerpts_end_at_a_word() -> None:
    from escalation.templates import excerpt

    text = (
        "Guten Tag, hier ist die Redaktion des Stadtanzeigers. "
        "Wir bitten bis 16 Uhr um eine Stellungnahme."
    )
    short = excerpt(text, 80)
    assert len(short) <= 80
    assert short.endswith("…")
    assert text.startswith(short[:-1])
    assert short[:-1].split()[-1] in text.split()  # the last word is whole
    assert excerpt("  kurz\n und   gut ") == "kurz und gut"
    assert excerpt("x" * 200, 10) == "x" * 9 + "…"
