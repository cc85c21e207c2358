"""`\\h`: the SQL statements vsql runs, each with what it does and a short syntax, as psql's help has
them (PostgreSQL's and pgvector's spelling; vsql's own statements included). Index methods, operator
classes, options, operators and settings are filled in from vsql's registries."""

from string import Template

from vsql.client.shell.vocabulary import INDEX_METHODS, INDEX_OPTIONS, OPERATOR_CLASSES, OPERATORS, SETTINGS

_WORDS = {
    "methods": " | ".join(INDEX_METHODS),
    "opclasses": "\n".join(f"    {method}: {' | '.join(names)}" for method, names in OPERATOR_CLASSES.items()),
    "options": " | ".join(INDEX_OPTIONS),
    "operators": " | ".join(OPERATORS),
    "settings": " | ".join(SETTINGS),
}

HELP: dict[str, tuple[str, str]] = {  # statement: what it does, its syntax
    "ALTER INDEX": ("make a new version of a vector index with other options", """\
ALTER INDEX name SET ( option = value [, ... ] )"""),
    "ALTER TABLE": ("change the definition of a table", """\
ALTER TABLE name ADD [ COLUMN ] column type [ DEFAULT expr ]
ALTER TABLE name DROP [ COLUMN ] column
ALTER TABLE name ALTER [ COLUMN ] column TYPE type [ USING expr ]
ALTER TABLE name ALTER [ COLUMN ] column { SET MODEL 'model' | DROP MODEL }
ALTER TABLE name RENAME [ COLUMN ] column TO new_column
ALTER TABLE name RENAME TO new_name"""),
    "ALTER VECTOR ALIAS": ("point a vector alias at another index", """\
ALTER VECTOR ALIAS name SET index_name"""),
    "BEGIN": ("start a transaction block", """\
BEGIN [ TRANSACTION ]
START TRANSACTION"""),
    "COMMIT": ("commit the current transaction", """\
COMMIT [ TRANSACTION ]
END"""),
    "COPY": ("copy data between a file and a table", """\
COPY table [ ( column [, ...] ) ] FROM 'file' [ ( option [, ...] ) ]
COPY { table | ( query ) } TO 'file' [ ( FORMAT { csv | parquet | json } [, ...] ) ]"""),
    "CREATE INDEX": ("define a new index", """\
CREATE INDEX [ name ] ON table USING { $methods } ( column opclass ) [ WITH ( option = value [, ...] ) ]
CREATE [ UNIQUE ] INDEX name ON table ( column [, ...] )

opclass:
$opclasses
option: $options"""),
    "CREATE TABLE": ("define a new table", """\
CREATE [ TEMP ] TABLE [ IF NOT EXISTS ] name (
    column type [ PRIMARY KEY | NOT NULL | UNIQUE | DEFAULT expr ] [, ...]
    [, PRIMARY KEY ( column [, ...] ) ] )
CREATE TABLE name AS query

type: VECTOR(n) | BIGSERIAL | SERIAL | BIGINT | INTEGER | TEXT | REAL | DOUBLE PRECISION | ..."""),
    "CREATE VECTOR ALIAS": ("name the vector index that serves searches", """\
CREATE VECTOR ALIAS name FOR index_name"""),
    "CREATE VIEW": ("define a new view", """\
CREATE [ OR REPLACE ] VIEW name [ ( column [, ...] ) ] AS query"""),
    "DELETE": ("delete rows of a table", """\
[ WITH with_query [, ...] ]
DELETE FROM table [ [ AS ] alias ]
    [ USING from_item [, ...] ]
    [ WHERE condition ]
    [ RETURNING { * | expression [ [ AS ] name ] } [, ...] ]"""),
    "DROP INDEX": ("remove an index", """\
DROP INDEX [ IF EXISTS ] name [, ...]"""),
    "DROP TABLE": ("remove a table", """\
DROP TABLE [ IF EXISTS ] name [, ...]"""),
    "DROP VECTOR ALIAS": ("remove a vector alias", """\
DROP VECTOR ALIAS [ IF EXISTS ] name"""),
    "DROP VIEW": ("remove a view", """\
DROP VIEW [ IF EXISTS ] name [, ...]"""),
    "EXPLAIN": ("show the execution plan of a statement", """\
EXPLAIN [ ANALYZE ] statement"""),
    "INSERT": ("create new rows in a table", """\
[ WITH with_query [, ...] ]
INSERT INTO table [ ( column [, ...] ) ]
    { VALUES ( expression [, ...] ) [, ...] | query }
    [ ON CONFLICT [ ( column [, ...] ) ] DO { NOTHING | UPDATE SET column = expression [, ...] } ]
    [ RETURNING { * | expression [ [ AS ] name ] } [, ...] ]"""),
    "MERGE": ("insert, update or delete rows of a table from another source", """\
MERGE INTO table [ [ AS ] alias ] USING source ON condition
    WHEN MATCHED [ AND condition ] THEN { UPDATE SET column = expression [, ...] | DELETE }
    WHEN NOT MATCHED [ AND condition ] THEN INSERT [ ( column [, ...] ) ] VALUES ( expression [, ...] )"""),
    "REINDEX": ("rebuild vector indexes", """\
REINDEX { INDEX | TABLE } name"""),
    "RESET": ("restore a setting to its default", """\
RESET name"""),
    "ROLLBACK": ("abort the current transaction", """\
ROLLBACK [ TRANSACTION ]
ABORT"""),
    "SELECT": ("retrieve rows from a table or view", """\
[ WITH with_query [, ...] ]
SELECT [ DISTINCT [ ON ( expression [, ...] ) ] ] { * | expression [ [ AS ] name ] } [, ...]
    [ FROM from_item [, ...] ]
    [ WHERE condition ]
    [ GROUP BY expression [, ...] ]
    [ HAVING condition ]
    [ { UNION | INTERSECT | EXCEPT } [ ALL ] select ]
    [ ORDER BY expression [ ASC | DESC ] [ NULLS { FIRST | LAST } ] [, ...] ]
    [ LIMIT count ] [ OFFSET start ]

nearest neighbours: ORDER BY column { $operators } vector LIMIT k"""),
    "SET": ("change a setting", """\
SET [ LOCAL ] name { TO | = } value

name: $settings | DuckDB's settings"""),
    "SHOW": ("show the value of a setting", """\
SHOW name"""),
    "TRUNCATE": ("empty a table", """\
TRUNCATE [ TABLE ] name"""),
    "UPDATE": ("update rows of a table", """\
[ WITH with_query [, ...] ]
UPDATE table [ [ AS ] alias ] SET column = expression [, ...]
    [ FROM from_item [, ...] ]
    [ WHERE condition ]
    [ RETURNING { * | expression [ [ AS ] name ] } [, ...] ]"""),
}


def lookup(topic: str) -> list[str]:
    """The statements `\\h topic` shows: the one named, or those whose name begins with it (`CREATE`)."""
    words = " ".join(topic.upper().split())
    if words in HELP:
        return [words]
    return [name for name in HELP if name.startswith(words + " ")]


def text(name: str) -> str:
    """psql's help page for one statement."""
    description, syntax = HELP[name]
    return f"Command:     {name}\nDescription: {description}\nSyntax:\n{Template(syntax).safe_substitute(_WORDS)}\n"
