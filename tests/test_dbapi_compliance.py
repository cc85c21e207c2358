"""The public DB-API 2.0 compliance suite (PyPI's dbapi-compliance, Stuart Bishop's dbapi20.py)
run in full against vsql, on a new database file per test as a server's driver would see it."""

import tempfile
from pathlib import Path

import dbapi20

import vsql


class TestDBAPI20(dbapi20.DatabaseAPI20Test):
    driver = vsql

    def setUp(self):
        self._directory = tempfile.TemporaryDirectory()
        self.connect_args = (str(Path(self._directory.name) / "compliance.duckdb"),)

    def tearDown(self):
        super().tearDown()
        self._directory.cleanup()

    # What the suite leaves to the driver: vsql has no stored procedures and one result set per
    # statement, as DuckDB does; its tests of callproc and nextset expect their absence to be said.
    def test_nextset(self):
        con = self._connect()
        try:
            self.assertFalse(hasattr(con.cursor(), "nextset"))
        finally:
            con.close()

    def test_setoutputsize(self):
        con = self._connect()
        try:
            con.cursor().setoutputsize(1000)  # may do nothing, must be there
        finally:
            con.close()
