"""The words the shell knows besides table and column names, in pgvector's spelling.

Completion offers them and highlighting marks them; the vector functions and operators are
read from vsql's dialect, its own functions and settings from where vsql defines them, so a new
one is known here as soon as vsql runs it.
"""

from vsql.mlops.functions import FUNCTIONS as VSQL_FUNCTIONS
from vsql.settings import SETTINGS as VSQL_SETTINGS
from vsql.sql.dialect import DISTANCE_OPS
from vsql.sql.dialect import FUNCTIONS as VECTOR_FUNCTIONS

FUNCTIONS = sorted(name.lower() for name in VECTOR_FUNCTIONS) + ["avg", "sum"] + sorted(VSQL_FUNCTIONS)
OPERATORS = list(DISTANCE_OPS)
INDEX_METHODS = ["hnsw", "ivfflat"]
OPERATOR_CLASSES = ["vector_l2_ops", "vector_ip_ops", "vector_cosine_ops"]
INDEX_OPTIONS = ["m", "ef_construction", "lists"]
SETTINGS = sorted(VSQL_SETTINGS)
KEYWORDS = """
SELECT FROM WHERE AND OR NOT IN IS NULL LIKE ILIKE BETWEEN EXISTS AS ON JOIN LEFT RIGHT INNER
OUTER FULL CROSS LATERAL USING GROUP BY ORDER HAVING LIMIT OFFSET DISTINCT UNION ALL INTERSECT
EXCEPT WITH CASE WHEN THEN ELSE END CAST ASC DESC NULLS FIRST LAST INSERT INTO VALUES UPDATE SET
DELETE RETURNING CREATE TABLE INDEX VIEW IF DROP ALTER ADD COLUMN RENAME TO PRIMARY KEY REFERENCES
UNIQUE DEFAULT CHECK CONSTRAINT BEGIN COMMIT ROLLBACK EXPLAIN ANALYZE COPY SHOW DESCRIBE TRUE FALSE
VECTOR ALIAS FOR MODEL BIGINT INTEGER INT SMALLINT REAL DOUBLE PRECISION TEXT VARCHAR BOOLEAN DATE TIMESTAMP NUMERIC
""".split()
