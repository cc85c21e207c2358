"""The words the shell knows besides table and column names, in pgvector's spelling.

Completion offers them and highlighting marks them; the vector functions and operators are
read from vsql's dialect, its own functions and settings from where vsql defines them, so a new
one is known here as soon as vsql runs it.
"""

from vsql.index.methods import METHODS
from vsql.mlops.functions import FUNCTIONS as VSQL_FUNCTIONS
from vsql.settings import SETTINGS as VSQL_SETTINGS
from vsql.sql.dialect import FUNCTIONS as VECTOR_FUNCTIONS
from vsql.sql.metrics import INDEXED, opclasses

FUNCTIONS = sorted(name.lower() for name in VECTOR_FUNCTIONS) + ["avg", "sum"] + sorted(VSQL_FUNCTIONS)
OPERATORS = [m.operator for m in INDEXED.values()]
INDEX_METHODS = list(METHODS)
OPERATOR_CLASSES = {method: opclasses(method) for method in METHODS}  # by access method
INDEX_OPTIONS = [name for method in METHODS.values() for name in method.options]
SETTINGS = sorted(VSQL_SETTINGS)
KEYWORDS = """
SELECT FROM WHERE AND OR NOT IN IS NULL LIKE ILIKE BETWEEN EXISTS AS ON JOIN LEFT RIGHT INNER
OUTER FULL CROSS LATERAL USING GROUP BY ORDER HAVING LIMIT OFFSET DISTINCT UNION ALL INTERSECT
EXCEPT WITH CASE WHEN THEN ELSE END CAST ASC DESC NULLS FIRST LAST INSERT INTO VALUES UPDATE SET
DELETE RETURNING CREATE TABLE INDEX VIEW IF DROP ALTER ADD COLUMN RENAME TO PRIMARY KEY REFERENCES
UNIQUE DEFAULT CHECK CONSTRAINT BEGIN COMMIT ROLLBACK EXPLAIN ANALYZE COPY SHOW DESCRIBE TRUE FALSE
VECTOR ALIAS FOR MODEL REINDEX BIGINT INTEGER INT SMALLINT REAL DOUBLE PRECISION TEXT VARCHAR BOOLEAN DATE TIMESTAMP NUMERIC
""".split()
