"""Inbox list benchmark: p95 of ``inbox.queries.list_conversations`` at 1,000,000 messages.

Bar (PRODUCT.md): "inbox list, top 50 by urgency with filters: p95 < 50 ms with 1,000,000
messages, on SQLite and on PostgreSQL".

The data set: ``--messages`` messages (default 1,000,000) in ``messages / 5`` conversations
(200,000), bulk-loaded into the real schema (``app.migrate.upgrade``), not through the HTTP
endpoint. Columns are filled the way a 30-day-old inbox looks: 12 channels on 8 platforms
with skewed volume, statuses mostly open with resolved / pending / snoozed, urgency skewed
low with a tail of high values, languages de / en / other, teams, assignees, labels,
timestamps spread over 30 days, and message texts drawn (Zipf) from a small German and
English vocabulary so that full-text search has realistic selectivity. What ingest and the
worker keep per conversation (the search document: ``conversation_fts`` on SQLite,
``conversation.search_vector`` on PostgreSQL; ``conversation_category``) is filled after
the load by the backfill statements of the migration that introduced them
(``0004_inbox_search``), which leave what ingest and the worker would have written.

The SQLite file is cached in ``var/bench/`` (git-ignored), keyed by the message count, the
generator version and a hash of the migrations, so a rerun skips generation. PostgreSQL
gets a fresh database ``leitstand_bench`` that is dropped at the end; its load is followed
by ``VACUUM ANALYZE`` (what autovacuum does shortly after a bulk load). SQLite is measured as
the service leaves it: without ``ANALYZE`` (``--sqlite-analyze`` adds it, for comparison).

Each filter runs ``--iterations`` times (default 200) after a warm-up, through the real
query code, each call in a fresh ``AsyncSession`` from ``app.db.make_engine`` /
``make_sessionmaker`` (what one API request does, minus HTTP). Parameter values rotate
(different channels, teams, languages, labels, words) so no single value is measured alone.
A filter whose p95 misses the bar gets its main SQL statement explained on stderr
(``EXPLAIN QUERY PLAN`` / ``EXPLAIN (ANALYZE, BUFFERS)``).

    .venv/bin/python bench/inbox_query.py                        # both databases, 1M
    .venv/bin/python bench/inbox_query.py --database sqlite --messages 50000   # quick check
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REPO_ROOT,
    VAR_BENCH,
    figure,
    log,
    percentile,
    pg_create_database,
    pg_drop_database,
    pg_dsn,
    pg_url,
)

GENERATOR_VERSION = 5
BAR_MS = 50.0
BAR_MESSAGES = 1_000_000
PG_DATABASE = "leitstand_bench"
SEED = 20261123
DAYS = 30

# --- what the inbox looks like ------------------------------------------------------------

TEAMS = ["Community DE", "Community EN", "Care", "Social Media", "PR", "Escalations"]
# (id, platform, name, team index, volume weight, conversation kind)
CHANNELS = [
    ("ch_fb_main", "facebook", "Facebook Marke DE", 0, 30, "comment"),
    ("ch_fb_intl", "facebook", "Facebook Brand EN", 1, 12, "comment"),
    ("ch_fb_shop", "facebook", "Facebook Shop", 2, 6, "review"),
    ("ch_ig_main", "instagram", "Instagram DE", 0, 14, "comment"),
    ("ch_ig_intl", "instagram", "Instagram EN", 1, 6, "comment"),
    ("ch_messenger", "messenger", "Messenger", 2, 8, "dm"),
    ("ch_wa_care", "whatsapp", "WhatsApp Kundenservice", 2, 9, "dm"),
    ("ch_wa_b2b", "whatsapp", "WhatsApp Business", 5, 1, "dm"),
    ("ch_x", "x", "X @marke", 3, 7, "mention"),
    ("ch_yt", "youtube", "YouTube", 3, 3, "comment"),
    ("ch_tg", "telegram", "Telegram", 3, 1, "dm"),
    ("ch_api", "standard-webhooks", "Shop API", 2, 3, "email"),
]
AGENTS = 60
STATUSES = (("open", 60), ("resolved", 25), ("pending", 10), ("snoozed", 5))
LANGUAGES = (("de", 55), ("en", 35), ("fr", 3), ("es", 2), ("it", 2), ("tr", 2), ("pl", 1))
LABELS = (
    ("follow-up", 30),
    ("billing", 20),
    ("shipping", 18),
    ("refund", 12),
    ("vip", 8),
    ("bug", 8),
    ("feedback", 6),
    ("press", 2),
    ("recall", 1),
    ("legal", 1),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Ordered by how common the words are (Zipf by rank): function words first, then the
# customer-service vocabulary, then rarer words (product names, incidents).
GERMAN = _words(
    "ich die und der nicht ist das ein es zu mit mein meine auf für sie wir ihr euer habe "
    "noch schon aber so wie bei was wann warum seit heute immer bitte danke hallo "
    "bestellung lieferung paket produkt preis service kunde app konto rechnung problem "
    "frage antwort woche tage geld zurück kaputt falsch leider endlich gut schlecht super "
    "toll schnell langsam warte wartet bekommen bestellt geliefert storniert erstattung "
    "rückerstattung umtausch garantie reklamation kundenservice hotline termin filiale "
    "versand versandkosten lieferzeit rücksendung gutschein rabatt aktion angebot abo "
    "kündigung vertrag passwort anmeldung update fehler absturz störung ausfall "
    "datenschutz beschwerde anwalt krankenhaus allergie verletzt gefährlich rückruf "
    "schnuller windeln fläschchen milchpulver zahnbürste akku ladekabel kopfhörer "
    "bildschirm lautsprecher"
)
ENGLISH = _words(
    "i the and to a my is it not you for of in your this on have with was be but so "
    "please thanks hello still already when why since today always again order delivery "
    "package product price service customer app account invoice problem question answer "
    "week days money back broken wrong unfortunately finally good bad great fast slow "
    "waiting received ordered delivered cancelled refund exchange warranty complaint "
    "support hotline appointment store shipping return voucher discount offer "
    "subscription cancellation contract password login update error crash outage privacy "
    "lawyer hospital allergic injured dangerous recall statement pacifier diapers bottle "
    "formula toothbrush battery charger headphones screen speaker"
)
# Rare words (product names, incidents): one of them in about 2 % of the messages, so each
# is in roughly 0.05 % of them.
RARE = _words(
    "babybrei kinderwagen staubsauger kaffeemaschine journalist stroller espresso vacuum "
    "thermomix airfryer powerbank smartwatch e-bike lastenrad hochstuhl autositz "
    "wickeltasche babyphone tablet konsole drohne rasenmäher saugroboter mikrowelle "
    "wasserkocher toaster mixer waffeleisen heizlüfter ventilator luftreiniger entsafter "
    "brotbackautomat dampfgarer eismaschine fondue raclette zeitungsbericht shitstorm "
    "produktwarnung"
)
# Triage categories of inbound messages: the main one and how often it is the main one.
CATEGORIES = (
    ("question", 30),
    ("complaint", 25),
    ("praise", 14),
    ("spam", 5),
    ("toxic", 5),
    ("outage", 5),
    ("fact_claim", 4),
    ("legal", 3),
    ("safety", 3),
    ("press", 3),
    ("threat", 2),
)
# Words the benchmark searches for.
SEARCH_FREQUENT = ("lieferung", "refund", "paket")
SEARCH_RARE = ("kinderwagen", "journalist", "staubsauger")


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def _cum(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[float]]:
    names = [p[0] for p in pairs]
    total = 0.0
    cum = []
    for _, w in pairs:
        total += w
        cum.append(total)
    return names, cum


# --- the generator ------------------------------------------------------------------------


def sqlite_ts(dt: datetime) -> str:
    """How SQLAlchemy stores a (UTC, naive) DateTime on SQLite."""
    return f"{dt:%Y-%m-%d %H:%M:%S}.{dt.microsecond:06d}"


class Generator:
    def __init__(self, messages: int, anchor: datetime) -> None:
        self.rng = random.Random(SEED)
        self.n_messages = messages
        self.n_conversations = max(1, messages // 5)
        self.n_authors = max(1, int(self.n_conversations * 0.6))
        self.anchor = anchor
        self.channel_ids = [c[0] for c in CHANNELS]
        total_w = 0.0
        self.channel_cum = []
        for c in CHANNELS:
            total_w += c[4]
            self.channel_cum.append(total_w)
        self.status_names, self.status_cum = _cum(STATUSES)
        self.lang_names, self.lang_cum = _cum(LANGUAGES)
        self.label_names, self.label_cum = _cum(LABELS)
        self.de_cum = list(_accumulate(_zipf_weights(len(GERMAN))))
        self.en_cum = list(_accumulate(_zipf_weights(len(ENGLISH))))
        # agents: user ids 2..AGENTS+1 (1 is an admin), each in one or two teams
        self.users: list[tuple[int, str, tuple[int, ...]]] = []
        for i in range(AGENTS):
            teams = (i % len(TEAMS) + 1,)
            if i % 4 == 0:
                teams = (*teams, (i + 1) % len(TEAMS) + 1)
            self.users.append((i + 2, f"agent{i + 1}@bench.local", teams))
        self.team_users: dict[int, list[int]] = {t: [] for t in range(1, len(TEAMS) + 1)}
        for uid, _, teams in self.users:
            for t in teams:
                self.team_users[t].append(uid)
        self.counts = self._message_counts()

    def _message_counts(self) -> list[int]:
        """Messages per conversation: most threads short, a few long; sums to exactly N."""
        rng = random.Random(SEED + 1)
        n, c = self.n_messages, self.n_conversations
        counts = [1 + min(int(rng.expovariate(1 / 4.0)), 200) for _ in range(c)]
        diff = n - sum(counts)
        while diff != 0:
            i = rng.randrange(c)
            if diff > 0:
                counts[i] += 1
                diff -= 1
            elif counts[i] > 1:
                counts[i] -= 1
                diff += 1
        return counts

    def _pick(self, names: list[str], cum: list[float]) -> str:
        return names[_bisect(cum, self.rng.random() * cum[-1])]

    def text(self, language: str) -> str:
        words, cum = (GERMAN, self.de_cum) if language == "de" else (ENGLISH, self.en_cum)
        k = self.rng.randint(4, 22)
        total = cum[-1]
        rnd = self.rng.random
        chosen = [words[_bisect(cum, rnd() * total)] for _ in range(k)]
        if self.rng.random() < 0.02:
            chosen.insert(self.rng.randrange(len(chosen)), self.rng.choice(RARE))
        chosen[0] = chosen[0].capitalize()
        return " ".join(chosen) + self.rng.choice((".", "!", "?", "", "!!"))

    def build(self) -> None:
        """Generate the data set in memory, ids in arrival order as the service assigns
        them: conversations numbered by their first message, messages by receipt time
        (threads interleave, as they do in a live inbox)."""
        rng = self.rng
        span = DAYS * 86400.0
        specs = []
        for index in range(self.n_conversations):
            ch_index = _bisect(self.channel_cum, rng.random() * self.channel_cum[-1])
            status = self._pick(self.status_names, self.status_cum)
            language = self._pick(self.lang_names, self.lang_cum)
            if rng.random() < 0.01:
                urgency = rng.randint(70, 100)  # the tail: crises, legal, safety
            else:
                urgency = min(100, int(100 * rng.betavariate(1.3, 7.0)))
            team_id = CHANNELS[ch_index][3] + 1 if rng.random() < 0.85 else None
            assignee = None
            if rng.random() < 0.35:
                pool = self.team_users.get(team_id or 1) or [2]
                assignee = rng.choice(pool)
            labels: list[str] = []
            if rng.random() < 0.15:
                labels.append(self._pick(self.label_names, self.label_cum))
                if rng.random() < 0.25:
                    extra = self._pick(self.label_names, self.label_cum)
                    if extra not in labels:
                        labels.append(extra)
            created = self.anchor - timedelta(seconds=rng.random() * span)
            specs.append(
                (
                    created,
                    ch_index,
                    status,
                    language,
                    urgency,
                    team_id,
                    assignee,
                    labels,
                    rng.randint(1, self.n_authors),
                    self.counts[index],
                )
            )
        specs.sort(key=lambda spec: spec[0])

        self.conversation_rows: list[dict[str, Any]] = []
        self.label_rows: list[tuple[int, str]] = []
        # per message: (received_at, conversation id, position in thread, inbound, text,
        # urgency)
        self.message_records: list[tuple[datetime, int, int, bool, str, int | None]] = []
        for cid, spec in enumerate(specs, start=1):
            (
                created,
                ch_index,
                status,
                language,
                urgency,
                team_id,
                assignee,
                labels,
                author,
                count,
            ) = spec
            channel_id, platform, _, _, _, kind = CHANNELS[ch_index]
            # The rest of a thread follows within hours to a few days.
            thread_span = min((self.anchor - created).total_seconds(), rng.expovariate(1 / 36000))
            times = sorted(
                created + timedelta(seconds=rng.random() * thread_span) for _ in range(count - 1)
            )
            times.insert(0, created)
            text_language = language if language in ("de", "en") else "en"
            unanswered_since: datetime | None = None
            subject = ""
            for j, at in enumerate(times):
                inbound = j == 0 or rng.random() < 0.7
                if inbound and unanswered_since is None:
                    unanswered_since = at
                if not inbound:
                    unanswered_since = None
                text = self.text(text_language)
                if j == 0:
                    subject = text[:200]
                m_urgency = None
                if inbound:
                    m_urgency = urgency if j == 0 else max(0, urgency - rng.randint(0, 30))
                self.message_records.append((at, cid, j, inbound, text, m_urgency))
            self.conversation_rows.append(
                {
                    "id": cid,
                    "channel_id": channel_id,
                    "platform": platform,
                    "thread_key": f"t{cid}",
                    "kind": kind,
                    "subject": subject,
                    "status": status,
                    "urgency": urgency,
                    "language": language,
                    "assignee_id": assignee,
                    "team_id": team_id,
                    "author_id": author,
                    "message_count": count,
                    "snoozed_until": self.anchor + timedelta(hours=rng.randint(1, 72))
                    if status == "snoozed"
                    else None,
                    "waiting_since": unanswered_since or times[-1],
                    "last_message_at": times[-1],
                    "created_at": created,
                    "updated_at": times[-1],
                }
            )
            self.label_rows.extend((cid, label) for label in labels)
        self.message_records.sort(key=lambda m: (m[0], m[1], m[2]))


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


CONVERSATION_COLUMNS = (
    "id",
    "channel_id",
    "platform",
    "thread_key",
    "kind",
    "subject",
    "status",
    "urgency",
    "language",
    "assignee_id",
    "team_id",
    "author_id",
    "message_count",
    "snoozed_until",
    "waiting_since",
    "last_message_at",
    "created_at",
    "updated_at",
)
MESSAGE_COLUMNS = (
    "id",
    "channel_id",
    "conversation_id",
    "external_id",
    "parent_external_id",
    "author_id",
    "direction",
    "kind",
    "text",
    "language",
    "url",
    "attachments",
    "context",
    "raw",
    "platform_created_at",
    "received_at",
    "edited_at",
    "deleted_at",
    "correlation_id",
    "processed_at",
    "urgency",
    "triage",
    "model_version",
)
CONVERSATION_TS = {"snoozed_until", "waiting_since", "last_message_at", "created_at", "updated_at"}
MESSAGE_TS = {"platform_created_at", "received_at", "processed_at"}


def conversation_rows(gen: Generator, ts: Callable[[datetime], Any]) -> Iterator[tuple]:
    for conv in gen.conversation_rows:
        yield tuple(
            (ts(conv[c]) if conv[c] is not None else None) if c in CONVERSATION_TS else conv[c]
            for c in CONVERSATION_COLUMNS
        )


_CATEGORY_NAMES, _CATEGORY_CUM = _cum(CATEGORIES)


def triage_json(message_id: int, urgency: int | None, language: str) -> str:
    """A triage result the way the model stores it: every category with a probability,
    one of them (sometimes two) above the 0.5 threshold."""
    rng = random.Random(message_id)
    main = _CATEGORY_NAMES[_bisect(_CATEGORY_CUM, rng.random() * _CATEGORY_CUM[-1])]
    categories = {name: round(rng.random() * 0.2, 3) for name in _CATEGORY_NAMES}
    categories[main] = round(0.55 + rng.random() * 0.4, 3)
    if rng.random() < 0.1:
        second = rng.choice(_CATEGORY_NAMES)
        categories[second] = max(categories[second], round(0.5 + rng.random() * 0.3, 3))
    sentiment = (
        "negative"
        if main in ("complaint", "toxic", "outage", "threat")
        else ("positive" if main == "praise" else "neutral")
    )
    return json.dumps(
        {
            "urgency": urgency,
            "categories": categories,
            "sentiment": sentiment,
            "language": language,
            "reasons": [f"{main} signal"],
            "model_version": "bench",
        }
    )


def message_rows(gen: Generator, ts: Callable[[datetime], Any]) -> Iterator[tuple]:
    """Message rows in id (= arrival) order."""
    convs = gen.conversation_rows
    first_external: dict[int, str] = {}
    for mid, (at, cid, j, inbound, text, urgency) in enumerate(gen.message_records, start=1):
        conv = convs[cid - 1]
        external_id = f"m{mid}"
        if j == 0:
            first_external[cid] = external_id
        language = conv["language"]
        yield (
            mid,
            conv["channel_id"],
            cid,
            external_id,
            None if j == 0 else first_external.get(cid),
            conv["author_id"] if inbound else None,
            "inbound" if inbound else "outbound",
            conv["kind"] if inbound else "reply",
            text,
            language,
            None,
            "[]",
            "{}",
            json.dumps({"id": external_id, "thread": conv["thread_key"], "text": text[:40]}),
            ts(at - timedelta(seconds=2)),
            ts(at),
            None,
            None,
            None,
            ts(at + timedelta(seconds=1)),
            urgency,
            None if not inbound else triage_json(mid, urgency, language),
            "bench" if inbound else None,
        )


def reference_rows(gen: Generator, ts: Callable[[datetime], Any]) -> dict[str, list[tuple]]:
    created = ts(gen.anchor - timedelta(days=DAYS + 1))
    teams = [(i + 1, name, created) for i, name in enumerate(TEAMS)]
    users = [(1, "admin@bench.local", "Admin", "admin", None, "de", True, created)]
    users += [
        (uid, email, f"Agent {uid - 1}", "agent", None, "de" if uid % 3 else "en", True, created)
        for uid, email, _ in gen.users
    ]
    memberships = [(uid, t) for uid, _, teams_ in gen.users for t in teams_]
    channels = [
        (cid, platform, name, "bench-secret", None, team + 1, True, created)
        for cid, platform, name, team, _, _ in CHANNELS
    ]
    arng = random.Random(SEED + 2)
    authors = []
    for a in range(1, gen.n_authors + 1):
        platform = CHANNELS[a % len(CHANNELS)][1]
        followers = int(arng.paretovariate(1.2) * 50) if arng.random() < 0.7 else None
        authors.append((a, platform, f"u{a}", f"user{a}", f"User {a}", followers, created, created))
    return {
        "team": teams,
        "user": users,
        "team_membership": memberships,
        "channel": channels,
        "author": authors,
    }


REFERENCE_COLUMNS = {
    "team": ("id", "name", "created_at"),
    "user": (
        "id",
        "email",
        "display_name",
        "role",
        "password_hash",
        "locale",
        "is_active",
        "created_at",
    ),
    "team_membership": ("user_id", "team_id"),
    "channel": (
        "id",
        "platform",
        "name",
        "secret",
        "verify_token",
        "team_id",
        "is_active",
        "created_at",
    ),
    "author": (
        "id",
        "platform",
        "platform_id",
        "handle",
        "display_name",
        "reach_followers",
        "first_seen_at",
        "updated_at",
    ),
}


# --- loaders ------------------------------------------------------------------------------


def schema_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "app" / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def derived_data_statements(dialect: str) -> list[str]:
    """The migration's backfill: search documents and conversation categories."""
    import importlib.util

    path = REPO_ROOT / "app" / "migrations" / "versions" / "0004_inbox_search.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [*module.category_backfill(dialect), *module.search_backfill(dialect)]


DERIVED_TABLES = ("conversation", "message", "conversation_label", "conversation_category")


def _q(name: str) -> str:
    return f'"{name}"'


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )


def build_sqlite(path: Path, messages: int, anchor: datetime) -> dict[str, float]:
    """Migrate a new SQLite file and bulk-load the data set; returns phase timings."""
    from app.migrate import upgrade

    timings: dict[str, float] = {}
    t = time.monotonic()
    upgrade(f"sqlite+aiosqlite:///{path}")
    timings["migrate"] = time.monotonic() - t

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1048576")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("PRAGMA foreign_keys=OFF")  # the generator keeps every reference valid
    # Secondary indexes and triggers are rebuilt after the load (faster than maintaining
    # them row by row); their definitions come from the migrated schema.
    tables = ", ".join(f"'{t}'" for t in DERIVED_TABLES)
    saved = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND "
        f"((type = 'index' AND tbl_name IN ({tables}))"
        " OR (type = 'trigger' AND tbl_name = 'message'))"
    ).fetchall()
    for kind, name, _ in saved:
        db.execute(f"DROP {kind.upper()} {_q(name)}")

    t = time.monotonic()
    gen = Generator(messages, anchor)
    gen.build()
    timings["generate"] = time.monotonic() - t
    log(f"  sqlite: generated in {timings['generate']:.0f}s; inserting")
    t = time.monotonic()
    db.execute("BEGIN")
    for table, data in reference_rows(gen, sqlite_ts).items():
        db.executemany(_insert_sql(table, REFERENCE_COLUMNS[table]), data)
    db.executemany(
        _insert_sql("conversation", CONVERSATION_COLUMNS), conversation_rows(gen, sqlite_ts)
    )
    db.executemany(_insert_sql("conversation_label", ("conversation_id", "label")), gen.label_rows)
    db.executemany(_insert_sql("message", MESSAGE_COLUMNS), message_rows(gen, sqlite_ts))
    db.execute("COMMIT")
    timings["insert"] = time.monotonic() - t

    t = time.monotonic()
    for kind, _, sql in saved:
        if kind == "index":
            db.execute(sql)
    timings["indexes"] = time.monotonic() - t
    t = time.monotonic()
    db.execute("BEGIN")
    for sql in derived_data_statements("sqlite"):
        db.execute(sql)
    db.execute("COMMIT")
    for kind, _, sql in saved:
        if kind == "trigger":
            db.execute(sql)
    timings["search and categories"] = time.monotonic() - t
    t = time.monotonic()
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("VACUUM")
    timings["vacuum"] = time.monotonic() - t
    db.close()
    return timings


def sqlite_cached(messages: int) -> tuple[Path, bool, dict[str, float]]:
    """The cached SQLite file for this size (built if missing); (path, built now, timings)."""
    VAR_BENCH.mkdir(parents=True, exist_ok=True)
    stem = f"inbox-{messages}-g{GENERATOR_VERSION}-{schema_hash()}"
    path = VAR_BENCH / f"{stem}.sqlite"
    meta_path = VAR_BENCH / f"{stem}.json"
    if path.exists() and meta_path.exists():
        return path, False, json.loads(meta_path.read_text())["timings"]
    # A different schema or generator version: older files of this size are stale.
    for old in VAR_BENCH.glob(f"inbox-{messages}-*"):
        old.unlink()
    tmp = VAR_BENCH / f"{stem}.building.sqlite"
    for leftover in VAR_BENCH.glob(f"{stem}.building.sqlite*"):
        leftover.unlink()
    anchor = datetime.now(UTC).replace(microsecond=0)
    t = time.monotonic()
    timings = build_sqlite(tmp, messages, anchor)
    timings["total"] = time.monotonic() - t
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)
    meta_path.write_text(
        json.dumps({"messages": messages, "anchor": anchor.isoformat(), "timings": timings})
    )
    return path, True, timings


def _pg_load(messages: int, anchor: datetime) -> dict[str, float]:
    """COPY in dependency order: conversations (and labels) first, then messages."""
    import psycopg

    from app.migrate import upgrade

    timings: dict[str, float] = {}
    t = time.monotonic()
    pg_create_database(PG_DATABASE)
    upgrade(pg_url(PG_DATABASE))
    timings["migrate"] = time.monotonic() - t
    with psycopg.connect(pg_dsn(PG_DATABASE), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        # Bulk load: foreign-key triggers off for this session (the generator keeps every
        # reference valid); the schema itself is untouched.
        conn.execute("SET session_replication_role = replica")
        saved = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = 'public' AND i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (list(DERIVED_TABLES),),
        ).fetchall()
        for name, _ in saved:
            conn.execute(f"DROP INDEX {_q(name)}")

        def ident(ts: datetime) -> datetime:
            return ts

        t = time.monotonic()
        gen = Generator(messages, anchor)
        gen.build()
        timings["generate"] = time.monotonic() - t
        log(f"  postgresql: generated in {timings['generate']:.0f}s; copying")
        t = time.monotonic()

        def copy(table: str, columns: tuple[str, ...], data: Any) -> None:
            cols = ", ".join(_q(c) for c in columns)
            with conn.cursor().copy(f"COPY {_q(table)} ({cols}) FROM STDIN") as cp:
                for row in data:
                    cp.write_row(row)

        with conn.transaction():
            for table, data in reference_rows(gen, ident).items():
                copy(table, REFERENCE_COLUMNS[table], data)
            copy("conversation", CONVERSATION_COLUMNS, conversation_rows(gen, ident))
            copy("conversation_label", ("conversation_id", "label"), gen.label_rows)
            copy("message", MESSAGE_COLUMNS, message_rows(gen, ident))
        timings["copy"] = time.monotonic() - t
        del gen
        conn.execute("SET session_replication_role = origin")
        t = time.monotonic()
        with conn.transaction():
            for sql in derived_data_statements("postgresql"):
                conn.execute(sql)
        timings["search and categories"] = time.monotonic() - t
        t = time.monotonic()
        for _, sql in saved:
            conn.execute(sql)
        timings["indexes"] = time.monotonic() - t
        t = time.monotonic()
        for table in ("team", "user", "channel", "author", "conversation", "message"):
            seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
            if seq and seq[0]:
                conn.execute(
                    f"SELECT setval('{seq[0]}', (SELECT coalesce(max(id), 1) FROM {_q(table)}))"
                )
        conn.execute("VACUUM ANALYZE")
        timings["vacuum analyze"] = time.monotonic() - t
    return timings


# --- the measurement ----------------------------------------------------------------------


@dataclass
class Case:
    name: str
    make: Callable[[int], dict[str, Any]]  # iteration -> filters, visibility, sort
    second_page: bool = False


def cases(gen_users: list[tuple[int, str, tuple[int, ...]]]) -> list[Case]:
    from inbox.queries import InboxFilter, Sort, Visibility

    everyone = Visibility(everything=True)
    open_ = ("open",)
    channels = ["ch_fb_main", "ch_ig_main", "ch_wa_care", "ch_x", "ch_fb_intl", "ch_messenger"]
    platforms = ["facebook", "instagram", "whatsapp", "x"]
    languages = ["de", "en", "fr"]
    labels = ["follow-up", "billing", "refund", "vip", "press"]
    categories = ["complaint", "question", "legal", "safety", "press"]
    agents = gen_users[:12]

    def c(name: str, make: Callable[[int], dict[str, Any]], **kw: Any) -> Case:
        return Case(name, make, **kw)

    def args(filters: Any, visibility: Any = everyone, sort: Any = Sort.urgency) -> dict:
        return {"filters": filters, "visibility": visibility, "sort": sort}

    return [
        c("all", lambda i: args(InboxFilter())),
        c("open", lambda i: args(InboxFilter(status=open_))),
        c(
            "open_channel",
            lambda i: args(InboxFilter(status=open_, channel_id=channels[i % len(channels)])),
        ),
        c(
            "open_platform",
            lambda i: args(InboxFilter(status=open_, platform=platforms[i % len(platforms)])),
        ),
        c("open_team", lambda i: args(InboxFilter(status=open_, team_id=1 + i % len(TEAMS)))),
        c(
            "open_assignee",
            lambda i: args(InboxFilter(status=open_, assignee_id=agents[i % len(agents)][0])),
        ),
        c(
            "open_language",
            lambda i: args(InboxFilter(status=open_, language=languages[i % len(languages)])),
        ),
        c("open_min_urgency_60", lambda i: args(InboxFilter(status=open_, min_urgency=60))),
        c("open_label", lambda i: args(InboxFilter(status=open_, label=labels[i % len(labels)]))),
        c(
            "agent_visibility",
            lambda i: args(
                InboxFilter(status=open_),
                Visibility(
                    everything=False,
                    user_id=agents[i % len(agents)][0],
                    team_ids=agents[i % len(agents)][2],
                ),
            ),
        ),
        c("open_page_2", lambda i: args(InboxFilter(status=open_)), second_page=True),
        c(
            "open_search_frequent_word",
            lambda i: args(InboxFilter(status=open_, q=SEARCH_FREQUENT[i % len(SEARCH_FREQUENT)])),
        ),
        c("search_rare_word", lambda i: args(InboxFilter(q=SEARCH_RARE[i % len(SEARCH_RARE)]))),
        *(
            [
                c(
                    "open_category",
                    lambda i: args(
                        InboxFilter(
                            status=open_,  # type: ignore[call-arg]
                            category=categories[i % len(categories)],
                        )
                    ),
                )
            ]
            if "category" in {f.name for f in dataclasses.fields(InboxFilter)}
            else []
        ),
        c("open_newest", lambda i: args(InboxFilter(status=open_), sort=Sort.newest)),
        c("all_newest", lambda i: args(InboxFilter(), sort=Sort.newest)),
    ]


@dataclass
class CaseResult:
    name: str
    samples_ms: list[float]
    rows: int

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)


async def measure(
    url: str, iterations: int, warmup: int, only: set[str] | None
) -> tuple[list[CaseResult], dict[str, tuple[str, Any]]]:
    """Every filter ``iterations`` times, interleaved round by round (so that other load on
    the machine falls on all filters alike), after ``warmup`` calls of each."""
    from sqlalchemy import event

    import app.models  # noqa: F401  (every table)
    from app.db import make_engine, make_sessionmaker
    from inbox.queries import list_conversations

    gen_users = Generator(5, datetime.now(UTC)).users
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    chosen = [c for c in cases(gen_users) if not only or c.name in only]
    cursors: dict[tuple[str, int], str | None] = {}

    async def call(case: Case, i: int) -> int:
        kw = case.make(i)
        cursor = None
        if case.second_page:
            key = (case.name, i % 7)
            if key not in cursors:
                async with sessionmaker() as session:
                    _, cursors[key] = await list_conversations(session, limit=50, **kw)
            cursor = cursors[key]
        async with sessionmaker() as session:
            items, _ = await list_conversations(session, limit=50, cursor=cursor, **kw)
        return len(items)

    samples: dict[str, list[float]] = {c.name: [] for c in chosen}
    nrows: dict[str, int] = {c.name: 0 for c in chosen}
    statements: dict[str, tuple[str, Any]] = {}
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    rng = random.Random(SEED)
    try:
        for case in chosen:
            for i in range(warmup):
                await call(case, i)
        started = time.monotonic()
        for i in range(iterations):
            order = list(chosen)
            rng.shuffle(order)
            for case in order:
                t = time.perf_counter()
                nrows[case.name] += await call(case, i)
                samples[case.name].append((time.perf_counter() - t) * 1000.0)
            if (i + 1) % 50 == 0:
                log(f"  {i + 1}/{iterations} rounds ({time.monotonic() - started:.0f}s)")
        # the SQL behind each filter, for EXPLAIN if it misses the bar
        for case in chosen:
            captured.clear()
            event.listen(engine.sync_engine, "before_cursor_execute", capture)
            try:
                await call(case, 0)
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
            conversation_selects = [c for c in captured if "FROM conversation" in c[0]]
            if conversation_selects:
                statements[case.name] = conversation_selects[0]
    finally:
        await engine.dispose()
    results = []
    for case in chosen:
        ms = samples[case.name]
        result = CaseResult(case.name, ms, nrows[case.name] // max(1, iterations))
        results.append(result)
        log(
            f"  {case.name:28s} p50 {percentile(ms, 50):7.2f}  p95 {result.p95:7.2f}"
            f"  p99 {percentile(ms, 99):7.2f}  max {max(ms):7.2f} ms  ({result.rows} rows)"
        )
    return results, statements


def explain(url: str, name: str, statement: str, parameters: Any) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as db:
            plan = db.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            t = time.perf_counter()
            db.execute(statement, parameters).fetchall()
            took = (time.perf_counter() - t) * 1000
        log(
            f"EXPLAIN QUERY PLAN for {name} (sqlite3, {took:.1f} ms):\n    {statement}\n    "
            f"params {parameters}\n" + "\n".join(f"    {row}" for row in plan)
        )
    else:
        import psycopg

        with psycopg.connect(pg_dsn(PG_DATABASE)) as conn:
            # psycopg (the driver SQLAlchemy used) takes the same %(name)s parameters.
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
        log(
            f"EXPLAIN (ANALYZE, BUFFERS) for {name}:\n    {statement}\n    params "
            f"{parameters}\n" + "\n".join(f"    {row[0]}" for row in plan)
        )


def report(database: str, results: list[CaseResult], messages: int) -> bool:
    full_size = messages >= BAR_MESSAGES
    size_note = "" if full_size else f" (measured at {messages:,} messages only)"
    bar = "p95 < 50 ms with 1,000,000 messages"
    all_met = True
    for r in results:
        met = r.p95 < BAR_MS and full_size
        all_met &= r.p95 < BAR_MS
        figure(f"inbox_list_p95_ms_{database}_{r.name}", r.p95, "ms", bar=bar + size_note, met=met)
    pooled = [s for r in results for s in r.samples_ms]
    overall = percentile(pooled, 95)
    worst = max(results, key=lambda r: r.p95)
    log(
        f"{database}: pooled p95 {overall:.2f} ms over {len(pooled)} calls; worst filter "
        f"{worst.name} p95 {worst.p95:.2f} ms; every filter under the bar: {all_met}"
    )
    figure(
        f"inbox_list_p95_ms_{database}",
        overall,
        "ms",
        bar=bar + " (pooled over all filters; met only if every filter's p95 is too)" + size_note,
        met=overall < BAR_MS and all_met and full_size,
    )
    return all_met


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "postgres", "both"), default="both"
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--only", help="comma-separated filter names")
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="run ANALYZE on (a copy of) the SQLite file first",
    )
    parser.add_argument(
        "--keep-postgres", action="store_true", help="leave the leitstand_bench database in place"
    )
    args = parser.parse_args()
    databases = (
        ["sqlite", "postgresql"]
        if args.database == "both"
        else ["postgresql" if args.database.startswith("postgres") else "sqlite"]
    )
    only = set(args.only.split(",")) if args.only else None
    lines: list[tuple[str, list[CaseResult]]] = []
    for database in databases:
        if database == "sqlite":
            t = time.monotonic()
            path, built, timings = sqlite_cached(args.messages)
            phases = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
            log(
                f"sqlite: {'generated' if built else 'cached'} {path.name} "
                f"({path.stat().st_size / 1e6:.0f} MB); generation took {phases}"
                f"{'' if built else ' when it was built'}"
            )
            if args.sqlite_analyze:
                analyzed = path.with_suffix(".analyzed.sqlite")
                if not analyzed.exists():
                    import shutil

                    shutil.copyfile(path, analyzed)
                    with sqlite3.connect(analyzed) as db:
                        db.execute("ANALYZE")
                path = analyzed
                log(f"sqlite: measuring {path.name} (ANALYZE run)")
            url = f"sqlite+aiosqlite:///{path}"
            log(
                f"sqlite: ready in {time.monotonic() - t:.0f}s; measuring "
                f"{args.iterations} calls per filter after {args.warmup} warm-up calls"
            )
        else:
            t = time.monotonic()
            anchor = datetime.now(UTC).replace(microsecond=0)
            log(f"postgresql: generating {args.messages:,} messages into {PG_DATABASE}")
            timings = _pg_load(args.messages, anchor)
            phases = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
            log(
                f"postgresql: loaded in {time.monotonic() - t:.0f}s ({phases}); measuring "
                f"{args.iterations} calls per filter after {args.warmup} warm-up calls"
            )
            url = pg_url(PG_DATABASE)
        try:
            results, statements = asyncio.run(measure(url, args.iterations, args.warmup, only))
            for r in results:
                if r.p95 >= BAR_MS and r.name in statements:
                    explain(url, f"{database} {r.name}", *statements[r.name])
        finally:
            if database == "postgresql" and not args.keep_postgres:
                pg_drop_database(PG_DATABASE)
        lines.append((database, results))
    for database, results in lines:
        report(database, results, args.messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
