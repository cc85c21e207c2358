"""The Spark engine: lowering of vsql's trees to Spark SQL, execution on a SparkSession, catalog,
and Spark's errors as PEP 249's. The only package of vsql that imports pyspark."""

from vsql.engine.spark import errors  # noqa: F401 - registers the translation of Spark's errors
from vsql.engine.spark.engine import SparkEngine

__all__ = ["SparkEngine"]
