"""Numbered schema migrations, each applied atomically with its record.

A migration is a tuple of SQL statements. Each one runs inside one
``BEGIN IMMEDIATE`` transaction together with the row that records it in
``schema_migrations``, so a crash leaves the database either before or after
a migration, never half-way. Applied migrations are skipped, which makes
:func:`migrate` idempotent. Never edit a released migration: add a new one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from calmopsd.errors import SchemaTooNewError


@dataclass(frozen=True)
class Migration:
    """``rebuilds_parent``: the migration rebuilds a table others reference (SQLite's
    twelve-step table change): foreign keys are off while it runs, and every reference
    is checked before it commits."""

    version: int
    name: str
    statements: tuple[str, ...]
    rebuilds_parent: bool = False


_INCIDENT_TYPES = "'memory','disk','upload','deploy','dependency','network'"

_CORE_TABLES = (
    """CREATE TABLE health_snapshots (
        id INTEGER PRIMARY KEY,
        taken_at TEXT NOT NULL,
        sampler TEXT NOT NULL,
        organization_id TEXT,
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        duration_ms REAL NOT NULL,
        readings TEXT NOT NULL CHECK (json_valid(readings))
    )""",
    "CREATE INDEX health_snapshots_by_sampler ON health_snapshots (sampler, taken_at)",
    f"""CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        organization_id TEXT,
        fingerprint TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ({_INCIDENT_TYPES})),
        severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        status TEXT NOT NULL
            CHECK (status IN ('open', 'stabilizing', 'monitoring', 'resolved')),
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        evidence TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(evidence)),
        resolution TEXT,
        opened_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        resolved_at TEXT
    )""",
    # One unresolved incident per problem; a platform-wide and an organization
    # incident with the same fingerprint are different problems.
    """CREATE UNIQUE INDEX incidents_one_unresolved_per_fingerprint
        ON incidents (coalesce(organization_id, ''), fingerprint)
        WHERE status != 'resolved'""",
    "CREATE INDEX incidents_by_org_status ON incidents (organization_id, status, opened_at)",
    """CREATE TABLE incident_events (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        incident_id INTEGER REFERENCES incidents (id),
        organization_id TEXT,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        data TEXT NOT NULL CHECK (json_valid(data)),
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX incident_events_by_incident ON incident_events (incident_id, seq)",
    """CREATE TABLE incident_actions (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents (id),
        organization_id TEXT,
        action TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
        status TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(outcome))
    )""",
    "CREATE INDEX incident_actions_by_incident ON incident_actions (incident_id)",
    """CREATE TABLE incident_recommendations (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        organization_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('safe_action', 'manual')),
        action TEXT,
        params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
        rationale TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'proposed'
            CHECK (status IN ('proposed', 'approved', 'rejected', 'executed')),
        created_at TEXT NOT NULL,
        decided_at TEXT,
        decided_by TEXT
    )""",
    "CREATE INDEX incident_recommendations_by_incident ON incident_recommendations (incident_id)",
)


def _append_only(table: str) -> tuple[str, ...]:
    return tuple(
        f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
        for verb in ("UPDATE", "DELETE")
    )


def _same_org_as_incident(table: str) -> str:
    """A child row must belong to its incident's organization (defence in depth)."""
    return f"""CREATE TRIGGER {table}_same_org BEFORE INSERT ON {table}
        WHEN NEW.incident_id IS NOT NULL AND NEW.organization_id IS NOT
            (SELECT organization_id FROM incidents WHERE id = NEW.incident_id)
        BEGIN SELECT RAISE(ABORT, '{table}.organization_id must match its incident'); END"""


_LOG_STATE = (
    # Where the log tailer stands in each file (see calmopsd/record/logstate.py).
    """CREATE TABLE log_positions (
        source TEXT NOT NULL,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        path TEXT NOT NULL,
        offset INTEGER NOT NULL CHECK (offset >= 0),
        head TEXT NOT NULL,
        head_size INTEGER NOT NULL CHECK (head_size >= 0),
        in_long_line INTEGER NOT NULL CHECK (in_long_line IN (0, 1)),
        PRIMARY KEY (source, device, inode)
    )""",
    # Per-minute counts still inside the windows, and totals (minute -1), saved
    # in the same transaction as the positions they were counted up to.
    """CREATE TABLE log_counts (
        source TEXT NOT NULL,
        minute INTEGER NOT NULL,
        organization_id TEXT,
        requests INTEGER NOT NULL,
        server_errors INTEGER NOT NULL,
        error_lines INTEGER NOT NULL,
        uploads INTEGER NOT NULL,
        upload_failures INTEGER NOT NULL,
        parse_errors INTEGER NOT NULL
    )""",
    """CREATE UNIQUE INDEX log_counts_key
        ON log_counts (source, minute, coalesce(organization_id, ''))""",
)

_ROLLUPS = (
    # 5-minute aggregates of every number in the raw snapshots, kept for a year
    # and more, so they are stored compactly: one series row names (sampler,
    # organization, metric) once; an aggregate row is its series id, the bucket
    # as epoch seconds and four numbers, in a table without rowids keyed by both.
    """CREATE TABLE health_rollup_series (
        id INTEGER PRIMARY KEY,
        sampler TEXT NOT NULL,
        organization_id TEXT,
        metric TEXT NOT NULL
    )""",
    """CREATE UNIQUE INDEX health_rollup_series_key
        ON health_rollup_series (sampler, coalesce(organization_id, ''), metric)""",
    """CREATE TABLE health_rollups (
        series INTEGER NOT NULL REFERENCES health_rollup_series (id),
        bucket INTEGER NOT NULL,
        count INTEGER NOT NULL CHECK (count > 0),
        min REAL NOT NULL,
        max REAL NOT NULL,
        avg REAL NOT NULL,
        PRIMARY KEY (series, bucket)
    ) WITHOUT ROWID""",
    "CREATE INDEX health_snapshots_by_time ON health_snapshots (taken_at)",
)

_RECOMMENDATION_STATUSES = "'proposed', 'approved', 'rejected', 'executed', 'expired'"


def _recommendations_table(name: str, statuses: str, kinds: str = "'safe_action', 'manual'") -> str:
    """The recommendations table since migration 5, under ``name``, with ``statuses``
    and ``kinds`` in its CHECKs: what each rebuild of it creates before copying the rows
    across."""
    return f"""CREATE TABLE {name} (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        organization_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ({kinds})),
        action TEXT,
        params TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(params)),
        rationale TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ({statuses})),
        created_at TEXT NOT NULL,
        decided_at TEXT,
        decided_by TEXT,
        expires_at TEXT,
        evidence TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(evidence)),
        preconditions TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(preconditions)),
        decision_note TEXT
    )"""


# SQLite cannot change a CHECK constraint in place: the recommendations table is
# rebuilt (create, copy, drop, rename) inside the migration's transaction, and its
# index and organization trigger, dropped with the old table, are made again.
_INCIDENT_AGENT = (
    "ALTER TABLE incidents ADD COLUMN flaps INTEGER NOT NULL DEFAULT 0 CHECK (flaps >= 0)",
    "ALTER TABLE incidents ADD COLUMN impact TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(impact))",
    "ALTER TABLE incidents ADD COLUMN last_breach_at TEXT",
    "CREATE INDEX incidents_by_fingerprint ON incidents (fingerprint, resolved_at)",
    _recommendations_table("incident_recommendations_v5", _RECOMMENDATION_STATUSES),
    """INSERT INTO incident_recommendations_v5
        (id, incident_id, organization_id, kind, action, params, rationale, status,
         created_at, decided_at, decided_by)
        SELECT id, incident_id, organization_id, kind, action, params, rationale, status,
               created_at, decided_at, decided_by
        FROM incident_recommendations""",
    "DROP TABLE incident_recommendations",
    "ALTER TABLE incident_recommendations_v5 RENAME TO incident_recommendations",
    "CREATE INDEX incident_recommendations_by_incident ON incident_recommendations (incident_id)",
    "CREATE INDEX incident_recommendations_open ON incident_recommendations (status, expires_at)",
    _same_org_as_incident("incident_recommendations"),
)

_ACTIONS = (
    # Reversible actions in force (a pause, an upload limit) with what undoes them;
    # a row stays after its revert as the record of when and how it ended.
    """CREATE TABLE active_actions (
        id INTEGER PRIMARY KEY,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        incident_id INTEGER REFERENCES incidents (id),
        organization_id TEXT,
        params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
        undo TEXT NOT NULL CHECK (json_valid(undo)),
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        reverted_at TEXT,
        reverted_by TEXT,
        revert_outcome TEXT
    )""",
    "CREATE INDEX active_actions_in_force ON active_actions (reverted_at, expires_at)",
    # Budgets and cooldowns are counted from the audit log by kind and time.
    "CREATE INDEX incident_events_by_kind ON incident_events (kind, at)",
)

_CURSORS = (
    # How far each consumer of the event log (calmopsd/follow/) has handled it:
    # the seq of the last event it handled, moved forward only (record/cursors.py).
    """CREATE TABLE consumer_cursors (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL CHECK (seq >= 0),
        updated_at TEXT NOT NULL
    )""",
)

# Recommendations end with their incident (``obsolete``): the CHECK gains a status, so
# the table is rebuilt as in migration 5.
_OBSOLETE_STATUSES = f"{_RECOMMENDATION_STATUSES}, 'obsolete'"
_RECOMMENDATION_COLUMNS = (
    "id, incident_id, organization_id, kind, action, params, rationale, status, created_at, "
    "decided_at, decided_by, expires_at, evidence, preconditions, decision_note"
)
_OBSOLETE = (
    _recommendations_table("incident_recommendations_v8", _OBSOLETE_STATUSES),
    f"""INSERT INTO incident_recommendations_v8 ({_RECOMMENDATION_COLUMNS})
        SELECT {_RECOMMENDATION_COLUMNS} FROM incident_recommendations""",
    "DROP TABLE incident_recommendations",
    "ALTER TABLE incident_recommendations_v8 RENAME TO incident_recommendations",
    "CREATE INDEX incident_recommendations_by_incident ON incident_recommendations (incident_id)",
    "CREATE INDEX incident_recommendations_open ON incident_recommendations (status, expires_at)",
    _same_org_as_incident("incident_recommendations"),
)

# A new incident type (``app``): SQLite cannot change the CHECK in place, so the table is
# rebuilt, with foreign keys off while its children still name the old one
# (``rebuilds_parent``: every reference is checked before it commits). The indexes go
# with the old table and are made again, and so are the children's organization
# triggers, which read it.
_INCIDENT_COLUMNS = (
    "id, organization_id, fingerprint, type, severity, status, title, description, summary, "
    "evidence, resolution, opened_at, updated_at, resolved_at, flaps, impact, last_breach_at"
)
_CHILDREN = ("incident_events", "incident_actions", "incident_recommendations")
_APP_TYPE = (
    # The organization triggers read `incidents`: a rename checks them, so they go first.
    *(f"DROP TRIGGER {table}_same_org" for table in _CHILDREN),
    f"""CREATE TABLE incidents_v9 (
        id INTEGER PRIMARY KEY,
        organization_id TEXT,
        fingerprint TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ({_INCIDENT_TYPES},'app')),
        severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        status TEXT NOT NULL
            CHECK (status IN ('open', 'stabilizing', 'monitoring', 'resolved')),
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        evidence TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(evidence)),
        resolution TEXT,
        opened_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        resolved_at TEXT,
        flaps INTEGER NOT NULL DEFAULT 0 CHECK (flaps >= 0),
        impact TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(impact)),
        last_breach_at TEXT
    )""",
    f"INSERT INTO incidents_v9 ({_INCIDENT_COLUMNS}) SELECT {_INCIDENT_COLUMNS} FROM incidents",
    "DROP TABLE incidents",
    "ALTER TABLE incidents_v9 RENAME TO incidents",
    """CREATE UNIQUE INDEX incidents_one_unresolved_per_fingerprint
        ON incidents (coalesce(organization_id, ''), fingerprint)
        WHERE status != 'resolved'""",
    "CREATE INDEX incidents_by_org_status ON incidents (organization_id, status, opened_at)",
    "CREATE INDEX incidents_by_fingerprint ON incidents (fingerprint, resolved_at)",
    *(_same_org_as_incident(table) for table in _CHILDREN),
)

_NOTICES = (
    # Notifications (see calmopsd/record/outbox.py): per target and incident, where its
    # notices stand; and the outbox of notices to send, each once (its key).
    """CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        target TEXT NOT NULL,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        organization_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('opened', 'updated', 'reminder', 'resolved')),
        upto_seq INTEGER NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'given_up', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        created_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        ended_at TEXT
    )""",
    "CREATE INDEX notices_pending ON notices (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX notices_by_target ON notices (target, created_at)",
    "CREATE INDEX notices_by_incident ON notices (incident_id, target, id)",
    """CREATE TABLE notice_groups (
        target TEXT NOT NULL,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        organization_id TEXT,
        first_at TEXT NOT NULL,
        changed_seq INTEGER NOT NULL,
        changed_at TEXT NOT NULL,
        resolved INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
        notified_seq INTEGER NOT NULL DEFAULT 0,
        notified_at TEXT,
        opening_id INTEGER REFERENCES notices(id),
        reminders INTEGER NOT NULL DEFAULT 0,
        closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
        PRIMARY KEY (target, incident_id)
    )""",
    "CREATE INDEX notice_groups_open ON notice_groups (target) WHERE closed = 0",
    _same_org_as_incident("notices"),
    _same_org_as_incident("notice_groups"),
)

_MESSAGES = (
    # Customer messages (see calmopsd/record/messages.py): drafted by calmopsd, approved
    # by a person, then delivered to each channel of their audience once.
    """CREATE TABLE customer_messages (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        organization_id TEXT,
        phase TEXT NOT NULL
            CHECK (phase IN ('investigating', 'identified', 'monitoring', 'resolved')),
        component_status TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel IN ('status_page', 'organizations', 'none')),
        audience TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(audience)),
        why TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'draft'
            CHECK (status IN ('draft', 'approved', 'sent', 'discarded')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        edited_by TEXT,
        decided_by TEXT,
        decided_at TEXT
    )""",
    "CREATE INDEX customer_messages_by_incident ON customer_messages (incident_id, id)",
    "CREATE INDEX customer_messages_by_status ON customer_messages (status, id)",
    """CREATE TABLE message_deliveries (
        message_id INTEGER NOT NULL REFERENCES customer_messages(id),
        channel_name TEXT NOT NULL,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        organization_id TEXT,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sending', 'sent', 'given_up', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        created_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        ended_at TEXT,
        PRIMARY KEY (message_id, channel_name)
    )""",
    "CREATE INDEX message_deliveries_pending ON message_deliveries (next_attempt_at) "
    "WHERE status = 'pending'",
    _same_org_as_incident("customer_messages"),
    _same_org_as_incident("message_deliveries"),
)


def _rebuilt_recommendations(temporary: str, kinds: str) -> tuple[str, ...]:
    """The recommendations table rebuilt with ``kinds`` in its CHECK (the statuses since
    migration 8): create under ``temporary``, copy every row, drop, rename, and make again
    the index and the organization trigger dropped with the old table."""
    return (
        _recommendations_table(temporary, _OBSOLETE_STATUSES, kinds),
        f"""INSERT INTO {temporary} ({_RECOMMENDATION_COLUMNS})
        SELECT {_RECOMMENDATION_COLUMNS} FROM incident_recommendations""",
        "DROP TABLE incident_recommendations",
        f"ALTER TABLE {temporary} RENAME TO incident_recommendations",
        "CREATE INDEX incident_recommendations_by_incident ON incident_recommendations "
        "(incident_id)",
        "CREATE INDEX incident_recommendations_open ON incident_recommendations "
        "(status, expires_at)",
        _same_org_as_incident("incident_recommendations"),
    )


# Post-incident reviews (see calmopsd/record/reviews.py), one per incident, drafted by
# calmopsd when it resolves and edited by people; and a recommendation kind for a
# playbook reorder the history supports (the CHECK gains a kind: rebuilt as in 8).
_REVIEWS = (
    """CREATE TABLE incident_reviews (
        incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
        organization_id TEXT,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'edited')),
        drafted_seq INTEGER NOT NULL,
        drafted_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        edited_by TEXT,
        edited_fields TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(edited_fields)),
        timeline TEXT NOT NULL,
        root_cause TEXT NOT NULL,
        helped TEXT NOT NULL,
        not_helped TEXT NOT NULL,
        prevention TEXT NOT NULL,
        tuning TEXT NOT NULL,
        notes TEXT NOT NULL DEFAULT '',
        figures TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(figures)),
        learning TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(learning))
    )""",
    "CREATE INDEX incident_reviews_by_fingerprint ON incident_reviews (fingerprint, incident_id)",
    _same_org_as_incident("incident_reviews"),
    *_rebuilt_recommendations(
        "incident_recommendations_v12", "'safe_action', 'manual', 'playbook_order'"
    ),
)

# Alert tuning: a backtested change of a rule, proposed to a person like a playbook
# order (calmopsd/learn/tuning.py). Only the kinds' CHECK changes: the table is rebuilt.
_TUNING_KIND = (
    *_rebuilt_recommendations(
        "incident_recommendations_v16",
        "'safe_action', 'manual', 'playbook_order', 'alert_tuning'",
    ),
    "CREATE INDEX incident_recommendations_by_kind ON incident_recommendations (kind, status)",
)

# Raw snapshots stored compactly (calmopsd/record/keyframes.py): ``taken_at`` as
# microseconds since the epoch, ``base`` naming the keyframe a row's readings are the
# changes against (NULL: the row is a keyframe, its readings whole). One index, by
# chain and time, serves every reader and retention; the one by time alone goes.
# Existing rows become keyframes, their readings unchanged; their text time is
# converted exactly (stored UTC with microseconds: the second, then the fraction).
_COMPACT_SNAPSHOTS = (
    """CREATE TABLE health_snapshots_compact (
        id INTEGER PRIMARY KEY,
        taken_at INTEGER NOT NULL,
        sampler TEXT NOT NULL,
        organization_id TEXT,
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        duration_ms REAL NOT NULL,
        base INTEGER,
        readings TEXT NOT NULL CHECK (json_valid(readings))
    )""",
    """INSERT INTO health_snapshots_compact
        (id, taken_at, sampler, organization_id, ok, duration_ms, base, readings)
        SELECT id,
               CAST(strftime('%s', substr(taken_at, 1, 19)) AS INTEGER) * 1000000
                 + CAST(substr(taken_at, 21, 6) AS INTEGER),
               sampler, organization_id, ok, duration_ms, NULL, readings
        FROM health_snapshots""",
    "DROP TABLE health_snapshots",
    "ALTER TABLE health_snapshots_compact RENAME TO health_snapshots",
    "CREATE INDEX health_snapshots_by_chain ON health_snapshots "
    "(sampler, organization_id, taken_at)",
)

# The weekly stability summary sent through the notifier (calmopsd/record/weekly_notices.py):
# one row per target and ISO week, so it goes at most once however often it is queued.
_WEEKLY_NOTICES = (
    """CREATE TABLE weekly_notices (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        week TEXT NOT NULL,
        organization_id TEXT,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'given_up', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        created_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        ended_at TEXT,
        UNIQUE (target, week)
    )""",
    "CREATE INDEX weekly_notices_pending ON weekly_notices (next_attempt_at) "
    "WHERE status = 'pending'",
)

_CHECK_HOURS = (
    # Each health check's readings per hour, counted as they are stored (see
    # calmopsd/record/check_hours.py): availability without decoding the snapshots.
    """CREATE TABLE check_hours (
        check_name TEXT NOT NULL,
        organization TEXT NOT NULL DEFAULT '',
        hour INTEGER NOT NULL,
        readings INTEGER NOT NULL CHECK (readings >= 0),
        up INTEGER NOT NULL CHECK (up >= 0 AND up <= readings),
        PRIMARY KEY (check_name, organization, hour)
    )""",
    "CREATE INDEX check_hours_by_hour ON check_hours (organization, hour)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables", _CORE_TABLES),
    Migration(
        2,
        "database guards: append-only audit log, child rows in their incident's organization",
        _append_only("incident_events")
        + tuple(
            _same_org_as_incident(t)
            for t in ("incident_events", "incident_actions", "incident_recommendations")
        ),
    ),
    Migration(3, "log tailer positions and per-minute log counts", _LOG_STATE),
    Migration(4, "health snapshot roll-ups (5-minute aggregates)", _ROLLUPS),
    Migration(
        5,
        "incident agent: flaps, impact, last breach; recommendations expire and keep evidence",
        _INCIDENT_AGENT,
    ),
    Migration(6, "safe actions: reversible actions in force; audit events by kind", _ACTIONS),
    Migration(7, "event log consumers: a cursor per consumer", _CURSORS),
    Migration(8, "recommendations end with their incident: status obsolete", _OBSOLETE),
    Migration(
        9,
        "incident type app: the app itself errored, stopped or crashing",
        _APP_TYPE,
        rebuilds_parent=True,
    ),
    Migration(10, "notifications: an outbox of notices and where each incident's stand", _NOTICES),
    Migration(11, "customer messages: drafts, approvals and their deliveries", _MESSAGES),
    Migration(12, "post-incident reviews; playbook-order recommendations", _REVIEWS),
    Migration(
        13,
        "compact raw snapshots: keyframes and changes, times in microseconds",
        _COMPACT_SNAPSHOTS,
    ),
    Migration(14, "weekly stability summaries sent through the notifier", _WEEKLY_NOTICES),
    Migration(15, "health checks' readings counted per hour, for availability", _CHECK_HOURS),
    Migration(16, "alert-tuning recommendations (a backtested rule change)", _TUNING_KIND),
)

LATEST = max(m.version for m in MIGRATIONS)

_BOOKKEEPING = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)"""


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    conn.execute(_BOOKKEEPING)
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(
    conn: sqlite3.Connection,
    upto: int = LATEST,
    *,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[int]:
    """Apply every migration not yet applied, up to ``upto``; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the
    transactions here are the only ones. A database holding any version not
    in ``migrations`` (tests pass their own) is refused untouched.
    """
    done = applied_versions(conn)
    known = sorted(m.version for m in migrations)
    # Any version this code does not know, not only one above the latest: a newer
    # calmopsd may have filled a gap, or a branch may have numbered its own.
    unknown = sorted(done - set(known))
    if unknown:
        raise SchemaTooNewError(
            f"database has schema version {_listed(unknown)}, unknown to this calmopsd "
            f"(it knows {_listed(known)}); "
            "upgrade calmopsd instead of opening a newer database with an older one"
        )
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done or migration.version > upto:
            continue
        if _apply(conn, migration):
            applied.append(migration.version)
    return applied


def _listed(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions)


def _apply(conn: sqlite3.Connection, migration: Migration) -> bool:
    if not migration.rebuilds_parent:
        return _apply_in_transaction(conn, migration)
    # Only outside a transaction can foreign keys be turned off (sqlite.org/lang_altertable).
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        return _apply_in_transaction(conn, migration)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def _apply_in_transaction(conn: sqlite3.Connection, migration: Migration) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-check under the write lock: another process may have just applied it.
        if conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
        ).fetchone():
            conn.execute("ROLLBACK")
            return False
        for statement in migration.statements:
            conn.execute(statement)
        if migration.rebuilds_parent and conn.execute("PRAGMA foreign_key_check").fetchone():
            raise sqlite3.IntegrityError(
                f"migration {migration.version} would leave a reference without its row"
            )
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
            (migration.version, migration.name),
        )
        conn.execute("COMMIT")
    except BaseException:
        # A failed statement may already have ended the transaction; a ROLLBACK
        # then would raise "no transaction is active" and hide the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True
