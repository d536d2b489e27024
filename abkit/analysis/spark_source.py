"""The analysis engine on Spark: the same SQL, transpiled, against a Spark temporary view.

The engine (:mod:`abkit.analysis.engine`) states every pass as SQL over the view ``log`` and reads
the
results through a DB-API-like connection. :class:`SparkConnection` is that connection for a
``SparkSession``: each statement is parsed as DuckDB SQL and written as Spark SQL by SQLGlot,
with rewrites where the dialects differ in meaning, not only in spelling:

- ``isfinite(x)`` (DuckDB) becomes ``NOT isnan(x) AND abs(x) < 'Infinity'`` (Spark has none);
- ``hash(x)`` becomes ``xxhash64(x)``: Spark's ``hash`` is 32-bit, and counting distinct
  32-bit hashes of 10M dialog ids would report about 12,000 false duplicates;
- ``to_timestamp(epoch)`` becomes ``timestamp_seconds(epoch)``: SQLGlot's default goes through
  ``from_unixtime``, a text with whole seconds, which drops milliseconds;
- ``timezone('UTC', t)`` becomes ``t`` (a naive ``CAST(t AS TIMESTAMP)``: ``CAST(t AS
  TIMESTAMP)``, Spark's instant, not ``TIMESTAMP_NTZ``): the session time zone is UTC (set by
  :func:`spark_session`; a session of the caller's is checked for it); ``timezone(zone, t)``
  becomes ``to_utc_timestamp(t, zone)``;
- ``epoch_us(t)`` becomes ``unix_micros(t)``; ``floor(x)`` keeps a non-finite ``x`` (Spark's
  floor is a BIGINT and overflows on infinity, DuckDB's is infinity);
- ``to_seconds(s)`` (an interval) becomes ``make_dt_interval(0, 0, 0, s)``, and DuckDB's
  ``any_value`` (which skips NULLs) Spark's ``any_value(x, true)``.

For the rollup of a folder of parts (:mod:`abkit.analysis.rollup`), a ``read_parquet([...])``
list of its stored files becomes a view over them, and :meth:`SparkConnection.view_of_parts` /
:meth:`SparkConnection.write_parts` compute and write the tables of many parts in one job.

So the plan, the validation, the health gates, the per-user and per-arm sums and the tests are
the same objects as with DuckDB (one engine, two executors), and tests compare the two on the
same logs (``tests/test_spark.py``). One figure is approximate on both engines and so differs
between them in the third digit: the unit gate's plausibility median (DuckDB
``approx_quantile``, Spark ``approx_percentile``), compared against thresholds a factor of 50
away from plausible values. Exact quantiles: the latency values of each arm are
collected to the driver as one Arrow column (8 bytes per dialog and quantile column: 80 MB for
10M dialogs), as DuckDB's path does; beyond what the driver holds, this is the limit.

pyspark and sqlglot are the optional extra ``abkit[spark]``; nothing here is imported by the
default path.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abkit.plan.experiment_plan import ExperimentPlan
from abkit.serve.events import LogValidationError

__all__ = [
    "SparkConnection",
    "SparkUnavailable",
    "is_spark_dataframe",
    "open_spark_log",
    "spark_session",
    "spark_type",
    "to_spark_sql",
]

DEFAULT_MASTER = "local[*]"
_MASTER = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|(spark|k8s|mesos|sc)://\S+|yarn")


class SparkUnavailable(OSError):
    """Spark cannot run here: the extra is not installed, no Java, or the master did not start."""


def is_spark_dataframe(value: object) -> bool:
    """True for a ``pyspark.sql.DataFrame`` (classic or Connect), without importing pyspark."""
    return any(
        klass.__name__ == "DataFrame" and klass.__module__.startswith("pyspark.sql")
        for klass in type(value).__mro__
    )


def _require() -> None:
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as error:
        raise SparkUnavailable(
            f"the Spark engine needs the optional extra: pip install 'abkit[spark]' ({error})"
        ) from None


def spark_session(master: str = DEFAULT_MASTER) -> Any:
    """A SparkSession for the engine: ``master`` (``local[*]``, ``spark://host:7077``, or
    ``sc://host:15002`` for Spark Connect), session time zone UTC, quiet logs, no UI."""
    _require()
    import shutil
    import warnings

    if not _MASTER.fullmatch(master):
        raise ValueError(
            f"spark master == {master!r}: must be local, local[N] or local[*], spark://host:port, "
            "yarn, k8s://..., or sc://host:port (Spark Connect)"
        )
    if (
        not master.startswith("sc://")
        and shutil.which("java") is None
        and not os.environ.get("JAVA_HOME")
    ):
        raise SparkUnavailable(
            "the Spark engine needs a Java runtime (17+): none on PATH or JAVA_HOME"
        )

    from pyspark.sql import SparkSession

    # pyspark 4 warns that pandas 3 is not fully supported; the engine hands Spark no pandas
    # object on its own (results come back through Arrow)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    if master.startswith("sc://"):
        builder = SparkSession.builder.remote(master)
    else:
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        logging = Path(__file__).with_name("spark-log4j2.properties")
        builder = (
            SparkSession.builder.master(master)
            .config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile={logging}")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.driver.memory", "4g")
        )
    try:
        session = builder.appName("abkit").config("spark.sql.session.timeZone", "UTC").getOrCreate()
    except Exception as error:  # a Java gateway or connection failure, named in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SparkUnavailable(
            f"spark master == {master!r}: Spark did not start ({reason})"
        ) from None
    with contextlib.suppress(Exception):  # Spark Connect has no SparkContext
        session.sparkContext.setLogLevel("FATAL")
    return session


# --------------------------------------------------------------------------- SQL


def to_spark_sql(sql: str) -> str:
    """The engine's DuckDB SQL as Spark SQL (SQLGlot, plus the rewrites of the module docstring).

    Examples:
        >>> to_spark_sql("SELECT count(DISTINCT hash(dialog_id)) FROM log")
        'SELECT COUNT(DISTINCT XXHASH64(dialog_id)) FROM log'
        >>> to_spark_sql('SELECT count_if(isfinite("x")) FROM log')
        "SELECT COUNT_IF((NOT ISNAN(`x`) AND ABS(`x`) < CAST('Infinity' AS DOUBLE))) FROM log"
    """
    import sqlglot
    from sqlglot import exp

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            args = node.expressions
            if name == "isfinite" and len(args) == 1:
                value = args[0]
                return exp.paren(
                    exp.and_(
                        exp.not_(exp.func("isnan", value.copy())),
                        exp.LT(
                            this=exp.func("abs", value.copy()),
                            expression=exp.cast(exp.Literal.string("Infinity"), "double"),
                        ),
                    )
                )
            if name == "epoch_us" and len(args) == 1:  # microseconds since the epoch
                return exp.Anonymous(this="unix_micros", expressions=[args[0].copy()])
            if name == "hash" and len(args) == 1:
                return exp.Anonymous(this="xxhash64", expressions=[args[0].copy()])
            if name == "timezone" and len(args) == 2:
                zone, value = args
                if not (isinstance(zone, exp.Literal) and zone.this.upper() == "UTC"):
                    # a naive time in that zone to the instant
                    return exp.Anonymous(
                        this="to_utc_timestamp", expressions=[value.copy(), zone.copy()]
                    )
                if isinstance(value, exp.Cast) and value.to.is_type("timestamp", "timestampntz"):
                    # a naive time in UTC: the instant (Spark TIMESTAMP, the session is UTC),
                    # never TIMESTAMP_NTZ, which PySpark hands back in the machine's zone
                    return exp.cast(value.this.copy(), exp.DataType.build("timestamptz"))
                return value.copy()  # the session is UTC: an instant stays itself
            if name == "to_seconds" and len(args) == 1:  # an interval of that many seconds
                zero = exp.Literal.number(0)
                return exp.func("make_dt_interval", zero, zero.copy(), zero.copy(), args[0].copy())
        if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
            # DuckDB's any_value skips NULLs; Spark's does with its second argument
            return exp.Anonymous(this="any_value", expressions=[node.this.this.copy(), exp.true()])
        if isinstance(node, exp.PercentileCont) and node.expression is not None:
            # DuckDB quantile_cont(x, q): Spark's exact percentile(x, q), also linear
            return exp.Anonymous(
                this="percentile", expressions=[node.this.copy(), node.expression.copy()]
            )
        if isinstance(node, exp.Floor) and node.args.get("decimals") is None:
            # DuckDB's floor of a DOUBLE is a DOUBLE (of infinity: infinity); Spark's is a
            # BIGINT, and of infinity an overflow error: the non-finite value is kept
            value = node.this.transform(rewrite)
            finite = exp.and_(
                exp.not_(exp.func("isnan", value.copy())),
                exp.LT(
                    this=exp.func("abs", value.copy()),
                    expression=exp.cast(exp.Literal.string("Infinity"), "double"),
                ),
            )
            whole = exp.Floor(this=value.copy())
            return exp.Case(ifs=[exp.If(this=finite, true=whole)], default=value.copy())
        if isinstance(node, exp.UnixToTime):
            return exp.Anonymous(this="timestamp_seconds", expressions=[node.this.copy()])
        if isinstance(node, exp.CTE) and node.args.get("materialized"):
            node.set("materialized", None)
        return node

    tree = sqlglot.parse_one(sql, read="duckdb").transform(rewrite)
    return tree.sql(dialect="spark")


_SPARK_TO_DUCKDB = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "date": "DATE",
}


def spark_type(name: str) -> str:
    """A Spark SQL type name as the DuckDB type name the engine's checks read.

    Examples:
        >>> spark_type("bigint"), spark_type("decimal(10,2)"), spark_type("array<int>")
        ('BIGINT', 'DECIMAL(10,2)', 'ARRAY<INT>')
    """
    lowered = name.lower()
    if lowered.startswith("decimal"):
        return lowered.upper()
    return _SPARK_TO_DUCKDB.get(lowered, name.upper())


def _aware(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.astimezone(datetime.UTC)
    return value


class SparkResult:
    """A statement's result, read the ways the engine reads DuckDB results."""

    def __init__(self, frame: Any, rows: list[tuple] | None = None) -> None:
        self._frame = frame
        self._rows = rows

    @property
    def description(self) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in self._frame.schema.fields]

    def fetchall(self) -> list[tuple]:
        """Rows as tuples; timestamps as UTC-aware datetimes, as DuckDB returns them (PySpark
        gives naive datetimes in the Python process's local time)."""
        if self._rows is None:
            self._rows = [tuple(_aware(v) for v in row) for row in self._frame.collect()]
        return self._rows

    def fetchone(self) -> tuple | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    def fetchnumpy(self) -> dict[str, np.ndarray]:
        """Columns as NumPy arrays, through Arrow (no pandas, no Python rows)."""
        table = self._frame.toArrow()
        return {name: table.column(name).to_numpy() for name in table.column_names}

    def df(self) -> pd.DataFrame:
        return self._frame.toArrow().to_pandas()


class SparkConnection:
    """The engine's connection on a SparkSession: ``execute`` runs DuckDB SQL on Spark.

    ``distinct_parts_max``: the engine counts distinct dialog ids in one query on Spark (which
    shuffles them across executors), not in the cache-sized parts it uses with DuckDB.
    """

    distinct_parts_max = 1

    def __init__(self, session: Any) -> None:
        self.session = session
        zone = str(session.conf.get("spark.sql.session.timeZone"))
        if zone not in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00"):
            raise ValueError(
                f"the Spark session's spark.sql.session.timeZone is {zone!r}; the engine needs "
                "'UTC' (days and timestamps are UTC): set it, or use abkit.analysis.spark_source."
                "spark_session()"
            )
        self._views: list[str] = []

    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None) -> SparkResult:
        if parameters:
            raise NotImplementedError("parameterized statements are not used on Spark")
        text = _PARQUET_LIST.sub(self._files_view, sql.strip())  # a rollup's tables
        if text.upper().startswith("DESCRIBE "):
            frame = self.session.sql(to_spark_sql(text[len("DESCRIBE ") :]))
            fields = frame.schema.fields
            return SparkResult(
                None, [(f.name, spark_type(f.dataType.simpleString())) for f in fields]
            )
        created = re.match(r"CREATE\s+TEMP(?:ORARY)?\s+VIEW\s+(\w+)", text, re.IGNORECASE)
        if created:
            self._views.append(created.group(1))
            text = re.sub(r"^CREATE\s+TEMP\s+VIEW", "CREATE OR REPLACE TEMP VIEW", text, flags=re.I)
        return SparkResult(self.session.sql(to_spark_sql(text)))

    def _files_view(self, match: re.Match) -> str:
        """A view over the Parquet files a ``read_parquet([...])`` names (a rollup's tables),
        with ``filename = 'c'``: their path as column ``c`` (Spark's ``input_file_name``, a
        URI). Made afresh for each statement: a rewritten file is read as it is now."""
        from pyspark.sql import functions

        paths = [_unquoted(text) for text in re.findall(r"'((?:[^']|'')*)'", match.group(1))]
        frame = self.session.read.parquet(*paths)
        if match.group(2):
            frame = frame.withColumn(match.group(2), functions.input_file_name())
        name = f"abkit_files_{len(self._views)}"
        self.register(name, frame)
        return name

    def view_of_parts(self, view: str, raw: str, keys: Mapping[str, str], select: str) -> None:
        """The view ``view`` of the Parquet parts ``keys`` (path -> key): the canonical
        columns (``select``, the log view's own) and the part's key as ``abkit_key``, each part
        read with the schema of the whole log's relation ``raw`` (a column missing in a part:
        NULLs, as when the folder is read at once)."""
        from pyspark.sql import functions

        schema = self.session.table(raw).schema
        frame = self.session.read.schema(schema).parquet(*keys)
        uri = {_local(text): text for text in frame.inputFiles()}
        local = {str(Path(path).resolve()): key for path, key in keys.items()}
        if set(local) - set(uri):  # an OSError: the look scans the log, with a warning
            raise OSError(f"Spark did not list the parts {sorted(set(local) - set(uri))[:3]}")
        named = self.session.createDataFrame(
            [(uri[path], key) for path, key in local.items()], "abkit_uri string, abkit_key string"
        )
        frame = frame.withColumn("abkit_uri", functions.input_file_name())
        frame = frame.join(functions.broadcast(named), "abkit_uri").drop("abkit_uri")
        self.register(f"{view}_raw", frame)
        self.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {select}, abkit_key FROM {view}_raw"
        )

    def write_parts(self, query: str, targets: Mapping[str, Path]) -> None:
        """Write the rows of ``query`` (DuckDB SQL with a column ``abkit_key``) as one Parquet
        file per key, at ``targets[key]``, without that column:
        one Spark job writes every part's file, and the driver moves each into place whole (a
        key without rows: a file of no rows); on a cluster the folder must be on a file system
        the executors and the driver both see."""
        import shutil
        import tempfile

        frame = self.session.sql(to_spark_sql(query))
        first = next(iter(targets.values()))
        scratch = Path(tempfile.mkdtemp(prefix=".spark-", dir=first.parent))
        try:
            out = scratch / "out"
            frame.repartition("abkit_key").write.partitionBy("abkit_key").parquet(str(out))
            for key, target in targets.items():
                written = sorted((out / f"abkit_key={key}").glob("part-*.parquet"))
                if not written:
                    empty = scratch / "empty"
                    if not empty.exists():
                        frame.drop("abkit_key").limit(0).coalesce(1).write.parquet(str(empty))
                    written = [scratch / f"{key}.parquet"]
                    shutil.copyfile(next(empty.glob("part-*.parquet")), written[0])
                if len(written) != 1:
                    raise OSError(f"Spark wrote {len(written)} Parquet files for {target.name}")
                os.replace(written[0], target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def input_files(self, raw: str) -> list[str]:
        """The files Spark reads for the relation ``raw``, as local paths."""
        return sorted(_local(uri) for uri in self.session.table(raw).inputFiles())

    def register(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def close(self) -> None:
        for name in self._views:
            with contextlib.suppress(Exception):
                self.session.catalog.dropTempView(name)


_PARQUET_LIST = re.compile(
    r"read_parquet\(\[((?:\s*'(?:[^']|'')*'\s*,?)*)\](?:\s*,\s*filename\s*=\s*'(\w+)')?\)"
)


def _unquoted(text: str) -> str:
    return text.replace("''", "'")


def _local(uri: str) -> str:
    """A file URI Spark names (``file:///tmp/a%20b.parquet``) as a local path."""
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(uri).path)


# --------------------------------------------------------------------------- opening a log


def _read_error_reason(text: str) -> str:
    """The line of a Spark / Py4J read error that says why; for parts whose schemas cannot
    merge, the columns whose types differ.

    Examples:
        >>> text = (
        ...     'An error occurred while calling o39.parquet.\\n: org.apache.spark.SparkException: '
        ...     '[CANNOT_MERGE_SCHEMAS] Failed merging schemas:\\nInitial schema:\\n'
        ...     '"STRUCT<a: STRING, b: BIGINT>"\\nSchema that cannot be merged with the initial '
        ...     'schema:\\n"STRUCT<a: STRING, b: DOUBLE>". SQLSTATE: 42KD9'
        ... )
        >>> print(_read_error_reason(text))  # doctest: +NORMALIZE_WHITESPACE
        the parts' schemas cannot be merged: column b is BIGINT in one part and DOUBLE in
        another; write it with one type in every part
    """
    structs = re.findall(r'"STRUCT<(.*)>"', text)
    if "CANNOT_MERGE_SCHEMAS" in text and len(structs) == 2:
        first, second = (
            dict(field.split(": ", 1) for field in struct.split(", ") if ": " in field)
            for struct in structs
        )
        differ = [
            f"{column} is {kind} in one part and {second[column]} in another"
            for column, kind in first.items()
            if column in second and second[column] != kind
        ]
        if differ:
            return (
                f"the parts' schemas cannot be merged: column {'; column '.join(differ)}; write "
                "it with one type in every part"
            )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    said = next((line for line in lines if "Exception:" in line), lines[0] if lines else "")
    return said.split("Exception: ", 1)[-1] or "unknown error"


def _raw_frame(events: Any, session: Any, table: str, name: str) -> tuple[Any, str]:
    """The raw Spark DataFrame of ``events`` and a label for messages: a Spark DataFrame, a
    Parquet file or folder, or a table name (``db.table``) Spark can read."""
    if is_spark_dataframe(events):
        return events, "Spark DataFrame"
    if isinstance(events, pd.DataFrame):
        return session.createDataFrame(events), "DataFrame"
    if not isinstance(events, str | Path):
        raise TypeError(
            f"{name} == {type(events).__name__}: with the Spark engine give a Spark DataFrame, "
            "a .parquet file or folder, or a table name"
        )
    path = Path(events).expanduser()
    if path.exists():
        if path.is_file() and path.suffix.lower() != ".parquet":
            raise ValueError(
                f"{name} == '{path}': the Spark engine reads .parquet files and folders and "
                "tables (convert a CSV to Parquet, or use the DuckDB engine)"
            )
        if path.is_file() and path.stat().st_size == 0:
            raise LogValidationError(f"{name} == '{path}' is empty (0 bytes)")
        try:
            # parts merged by name (a part without a column: NULLs there), never read with
            # one part's schema; parts whose types cannot merge are an error
            reader = session.read.option("mergeSchema", "true")
            return reader.parquet(str(path.resolve())), str(path)
        except Exception as error:  # a Spark AnalysisException or a Java error
            reason = _read_error_reason(str(error))
            raise LogValidationError(f"{name} == '{path}' cannot be read: {reason}") from None
    text = str(events)
    if re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*){0,2}", text) and not path.suffix:
        try:
            return session.table(text), f"table {text}"
        except Exception:
            raise ValueError(
                f"{name} == {text!r}: no such file, folder or table (the Spark engine reads a "
                "Parquet path or a table name)"
            ) from None
    raise FileNotFoundError(f"{name} == '{path}': no such file or folder")


@contextlib.contextmanager
def open_spark_log(
    events: Any,
    plan: ExperimentPlan,
    *,
    spark: Any,
    table: str = "dialogs",
    pre_period: Any = None,
    users: Any = None,
) -> Iterator[Any]:
    """Open a log on Spark as the view ``log`` with canonical names and types, exactly as
    :func:`abkit.analysis.log_source.open_log` does with DuckDB (the same view definition,
    transpiled);
    a pre-period log and a users table (CUPED covariates) as the views ``pre_log`` and
    ``users_table``.

    Yields:
        a :class:`~abkit.analysis.log_source.LogSource` whose ``connection`` is a
        :class:`SparkConnection`.
    """
    _require()
    import dataclasses

    from abkit.analysis.log_source import create_view, text_columns
    from abkit.analysis.part_schema import check_folder_schemas

    connection = SparkConnection(spark)
    try:
        absent = {}
        if isinstance(events, str | Path):  # a folder's parts, read from their footers
            path = Path(events).expanduser()
            absent = check_folder_schemas(path, "events", text_columns(plan))
        frame, label = _raw_frame(events, spark, table, "events")
        connection.register("raw_log", frame)
        source = create_view(connection, "raw_log", label, plan, view="log", absent=absent)
        extra = {}
        for key, given, view, required, what in (
            ("pre_period", pre_period, "pre_log", ("user_id", "timestamp"), "pre-period log"),
            ("users", users, "users_table", ("user_id", "measured_at"), "users table"),
        ):
            if given is None:
                continue
            frame, label = _raw_frame(given, spark, "users", key)
            connection.register(f"raw_{view}", frame)
            extra[key] = create_view(
                connection, f"raw_{view}", label, plan, view=view, required=required, what=what
            )
        yield dataclasses.replace(source, **extra)
    finally:
        connection.close()
