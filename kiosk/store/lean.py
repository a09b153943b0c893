"""Statements run straight on the driver's cursor: the few that run on every badge tap and sensor change.

SQLAlchemy Core spends some 30-40 µs of interpreter time around each statement (execution context, result
metadata, row objects), several times what SQLite needs for an indexed lookup. A :class:`Prepared`
statement is compiled once per dialect and run on the cursor of the same connection and transaction, with
the same bind and result processing for the column types it uses (so a ``UTCDateTime`` is stored and read
exactly as through Core). Driver errors come out as SQLAlchemy's own exceptions (``IntegrityError``,
``OperationalError``, ...), so callers catch what they always caught; a dead PostgreSQL connection is
invalidated as Core would.

Only plain statements qualify: no expanding ``IN`` lists, and an INSERT must be given every column it
names or have a plain default value for it. An INSERT ... RETURNING reads back like a SELECT.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


FEW = 2  # up to this many rows, running a statement once per row beats the driver's executemany


class _Plan:
    """A statement compiled for one dialect: text, parameter order and processors."""

    __slots__ = ("sql", "order", "binds", "defaults", "row", "results", "_types", "_dialect")

    def __init__(self, stmt: Any, dialect: Dialect, keys: Sequence[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.sql: str = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError("a Prepared statement cannot expand IN lists")
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.binds: dict[str, Callable[[Any], Any]] = {}
        # Values fixed in the statement: literals Core made parameters, plain column defaults of an INSERT.
        self.defaults: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.binds[name] = process
            if not bind.required and bind.callable is None and bind.value is not None:
                self.defaults[name] = bind.value
        for column in getattr(compiled, "insert_prefetch", ()):
            default = column.default
            if default is None or not default.is_scalar:
                raise ValueError(f"a Prepared INSERT needs a value for {column.key}")
            self.defaults[column.key] = default.arg
        self.row: Any = None
        self._types: list[Any] = []
        self.results: list[Callable[[Any], Any] | None] | None = None  # from the first result's column types
        columns = list(getattr(stmt, "exported_columns", ()))  # a SELECT's, or an INSERT's RETURNING
        if columns:
            self.row = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
            self._types = [c.type.dialect_impl(dialect) for c in columns]
        self._dialect = dialect

    def result_processors(self, description: Sequence[Any]) -> list[Callable[[Any], Any] | None]:
        """What Core applies to each column; some depend on the type the driver reports (PostgreSQL's numbers)."""
        if self.results is None:
            self.results = [t.result_processor(self._dialect, d[1]) for t, d in zip(self._types, description)]
        return self.results

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **params} if self.defaults else dict(params)
        for name, process in self.binds.items():
            if name in values:
                values[name] = process(values[name])
        if self.order is not None:
            return tuple(values[name] for name in self.order)
        return values

    def make_row(self, raw: Sequence[Any], results: list[Callable[[Any], Any] | None]) -> Any:
        return self.row._make(value if process is None else process(value)
                              for value, process in zip(raw, results))


class Prepared:
    """A Core statement for the hot path: compile once, run on the connection's own cursor."""

    def __init__(self, stmt: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.keys = tuple(keys) if keys is not None else None
        self._plans: dict[Dialect, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = _Plan(self.stmt, dialect, self.keys)
        return plan

    def _run(self, conn: Connection, params: Any, fetch: int) -> Any:
        """fetch: 0 nothing, 1 the first row, 2 every row; 3 nothing, once per mapping in ``params``."""
        plan = self._plan(conn.dialect)
        args = [plan.parameters(p) for p in params] if fetch == 3 else plan.parameters(params)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            if fetch == 3:
                cursor.executemany(plan.sql, args)
                return cursor.rowcount
            cursor.execute(plan.sql, args)
            if fetch == 1:
                found = cursor.fetchone()
                return None if found is None else plan.make_row(found, plan.result_processors(cursor.description))
            if fetch == 2:
                results = plan.result_processors(cursor.description)
                return [plan.make_row(r, results) for r in cursor.fetchall()]
            return cursor.rowcount
        except conn.dialect.loaded_dbapi.Error as exc:
            invalidated = conn.dialect.is_disconnect(exc, raw, cursor)
            if invalidated:
                conn.invalidate(exc)
            raise DBAPIError.instance(plan.sql, args, exc, conn.dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated, dialect=conn.dialect) from exc
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first row (a named tuple), or None."""
        return self._run(conn, params or {}, 1)

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row, as named tuples."""
        return self._run(conn, params or {}, 2)

    def scalar(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self._run(conn, params or {}, 1)
        return None if row is None else row[0]

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Execute (an INSERT, UPDATE or DELETE); the driver's row count."""
        return self._run(conn, params or {}, 0)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row: for the usual one or two one by one, else with the driver's executemany."""
        if len(rows) <= FEW:
            for row in rows:
                self._run(conn, row, 0)
        else:
            self._run(conn, rows, 3)
