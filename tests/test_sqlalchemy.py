"""The SQLAlchemy dialect (`vsql://`): pgvector-python's SQLAlchemy types and README examples run
unchanged, reflection (vector columns, keys, DuckDB's and vsql's indexes), transactions, batched
executemany, and pandas' read_sql / to_sql."""

import numpy as np
import pytest

sqlalchemy = pytest.importorskip("sqlalchemy", reason="the SQLAlchemy dialect needs pip install 'vsql[sqlalchemy]'")
pytest.importorskip("pgvector.sqlalchemy", reason="the SQLAlchemy dialect needs pip install 'vsql[sqlalchemy]'")

from pgvector.sqlalchemy import Vector, avg  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

import vsql  # noqa: E402
from vsql.client import bulk  # noqa: E402
from vsql.client.sqlalchemy import VsqlDialect  # noqa: E402

Q = [3, 1, 2]


class Base(DeclarativeBase):
    pass


class Item(Base):  # pgvector-python's README model
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(20), default="a")
    embedding = mapped_column(Vector(3))


Index("my_index", Item.embedding, postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 64},
      postgresql_ops={"embedding": "vector_l2_ops"})

rng = np.random.default_rng(7)
VECTORS = rng.normal(size=(60, 3)).astype(np.float32)


@pytest.fixture
def engine():
    engine = create_engine("vsql://")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def items(engine):
    """60 items, every third in category 'b', added through the ORM as lists and arrays."""
    with Session(engine) as session:
        session.add_all(Item(embedding=v.tolist() if i % 2 else v, category="b" if i % 3 == 0 else "a")
                        for i, v in enumerate(VECTORS))
        session.commit()
    return engine


def nearest(vectors, q, distance, k=5, keep=None):
    ids = np.arange(1, len(vectors) + 1)
    order = np.argsort(distance(vectors, np.asarray(q, np.float32)), kind="stable")
    return [int(ids[i]) for i in order if keep is None or keep[i]][:k]


L2 = lambda m, q: np.linalg.norm(m - q, axis=1)  # noqa: E731
COSINE = lambda m, q: 1 - (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))  # noqa: E731
IP = lambda m, q: -(m @ q)  # noqa: E731
L1 = lambda m, q: np.abs(m - q).sum(axis=1)  # noqa: E731


def test_the_entry_point_names_the_dialect():
    url = sqlalchemy.engine.make_url("vsql:///items.duckdb")
    assert url.get_dialect() is VsqlDialect
    dialect = VsqlDialect()
    assert dialect.create_connect_args(url) == (["items.duckdb"], {})
    assert dialect.create_connect_args(sqlalchemy.engine.make_url("vsql://")) == ([":memory:"], {})
    assert dialect.create_connect_args(sqlalchemy.engine.make_url("vsql:////tmp/x.duckdb?read_only=true")) == (
        ["/tmp/x.duckdb"], {"read_only": True})
    with pytest.raises(sqlalchemy.exc.ArgumentError, match="unknown vsql URL option"):
        dialect.create_connect_args(sqlalchemy.engine.make_url("vsql://?readonly=1"))
    assert VsqlDialect.import_dbapi() is vsql


def test_connect_settings(engine):
    with engine.connect() as conn:
        assert engine.dialect.default_schema_name == "main"
        assert engine.dialect.server_version_info == tuple(int(p) for p in vsql.__version__.split("."))
        assert engine.dialect.paramstyle == "qmark"
        assert conn.get_isolation_level() == "REPEATABLE READ"
    assert isinstance(engine.pool, sqlalchemy.pool.StaticPool)  # one in-memory database, not one per connection


def test_orm_search_with_every_distance(items):
    with Session(items) as session:
        for distance, oracle in [(Item.embedding.l2_distance, L2), (Item.embedding.cosine_distance, COSINE),
                                 (Item.embedding.max_inner_product, IP), (Item.embedding.l1_distance, L1)]:
            found = session.scalars(select(Item).order_by(distance(Q)).limit(5)).all()
            assert [item.id for item in found] == nearest(VECTORS, Q, oracle)
        first = session.scalars(select(Item).order_by(Item.embedding.l2_distance(np.array(Q))).limit(1)).one()
        assert isinstance(first.embedding, np.ndarray) and first.embedding.dtype == np.float32
        np.testing.assert_array_equal(first.embedding, VECTORS[first.id - 1])


def test_filters_and_distances_combined(items):
    categories = np.array(["b" if i % 3 == 0 else "a" for i in range(len(VECTORS))])
    with Session(items) as session:
        ids = session.scalars(select(Item.id).filter(Item.category == "b")
                              .order_by(Item.embedding.cosine_distance(Q)).limit(5)).all()
        assert ids == nearest(VECTORS, Q, COSINE, keep=categories == "b")
        within = session.scalars(select(Item.id).filter(Item.embedding.l2_distance(Q) < 2).order_by(Item.id)).all()
        assert within == [i + 1 for i, d in enumerate(L2(VECTORS, np.float32(Q))) if d < 2]
        rows = session.execute(select(Item.id, Item.embedding.l2_distance(Q).label("distance"))
                               .order_by("distance").limit(3)).all()
        np.testing.assert_allclose([r.distance for r in rows], np.sort(L2(VECTORS, np.float32(Q)))[:3], rtol=1e-5)
        mean = session.scalar(select(avg(Item.embedding)))
        np.testing.assert_allclose(mean, VECTORS.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_orm_inserts_get_their_keys_in_order(engine):
    with Session(engine) as session:
        added = [Item(embedding=[i, i, i]) for i in range(5)]
        session.add_all(added)
        session.commit()
        for item in added:
            assert session.get(Item, item.id).embedding[0] == item.id - 1


def test_the_hnsw_index_is_created_and_searched(items):
    with items.connect() as conn:
        row = conn.execute(text("SELECT method, opclass, options FROM vsql.indexes WHERE name = 'my_index'")).one()
        assert row == ("hnsw", "vector_l2_ops", '{"m": 16, "ef_construction": 64}')
        conn.execute(text("SET vsql.exact_below = 0"))
        query = select(Item.id).order_by(Item.embedding.l2_distance(Q)).limit(5)
        sql = str(query.compile(items, compile_kwargs={"literal_binds": True}))
        plan = dict(conn.exec_driver_sql("EXPLAIN " + sql).all())["vsql_plan"]
        assert "index: my_index (hnsw, vector_l2_ops, m = 16, ef_construction = 64)" in plan
        assert "strategy: exact" not in plan
        assert conn.scalars(query).all() == nearest(VECTORS, Q, L2)


def test_reflection(items):
    with items.begin() as conn:
        conn.execute(text("CREATE TABLE tag (id INT PRIMARY KEY, item_id INT REFERENCES item (id), "
                          "name VARCHAR UNIQUE, n NUMERIC(10, 2) CHECK (n > 0), tags REAL[])"))
        conn.execute(text("CREATE INDEX tag_name ON tag (name)"))
        conn.execute(text("CREATE VIEW b_items AS SELECT id FROM item WHERE category = 'b'"))
        conn.execute(text("CREATE INDEX ON item USING ivfflat (embedding vector_cosine_ops) WITH (lists = 4)"))
    insp = inspect(items)
    assert insp.get_schema_names() == ["main"]
    assert insp.get_table_names() == ["item", "tag"]
    assert insp.get_view_names() == ["b_items"]
    assert insp.has_table("item") and insp.has_table("b_items") and not insp.has_table("nothing")
    assert "SELECT id FROM item" in insp.get_view_definition("b_items")
    columns = {c["name"]: c for c in insp.get_columns("item")}
    assert isinstance(columns["embedding"]["type"], Vector) and columns["embedding"]["type"].dim == 3
    assert columns["id"]["autoincrement"] and not columns["id"]["nullable"]
    tag = {c["name"]: c["type"] for c in insp.get_columns("tag")}
    assert (tag["n"].precision, tag["n"].scale) == (10, 2)
    assert isinstance(tag["tags"], sqlalchemy.ARRAY) and isinstance(tag["tags"].item_type, sqlalchemy.REAL)
    assert insp.get_pk_constraint("item")["constrained_columns"] == ["id"]
    assert insp.get_pk_constraint("b_items")["constrained_columns"] == []
    [fk] = insp.get_foreign_keys("tag")
    assert (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]) == (["item_id"], "item", ["id"])
    assert insp.get_foreign_keys("item") == []
    assert [u["column_names"] for u in insp.get_unique_constraints("tag")] == [["name"]]
    assert [c["sqltext"] for c in insp.get_check_constraints("tag")] == ["n > 0"]
    assert insp.get_indexes("tag") == [{"name": "tag_name", "column_names": ["name"], "unique": False}]
    indexes = {i["name"]: i for i in insp.get_indexes("item")}
    assert indexes["my_index"]["dialect_options"] == {
        "postgresql_using": "hnsw", "postgresql_ops": {"embedding": "vector_l2_ops"},
        "postgresql_with": {"m": "16", "ef_construction": "64"}}
    [ivf] = [i for name, i in indexes.items() if name != "my_index"]
    assert ivf["dialect_options"]["postgresql_using"] == "ivfflat"
    with pytest.raises(sqlalchemy.exc.NoSuchTableError):
        insp.get_columns("nothing")


def test_reflected_tables_create_again(items, tmp_path):
    """MetaData.reflect, then create_all on a fresh database: the vector column and index return."""
    metadata = MetaData()
    metadata.reflect(items)
    item = metadata.tables["item"]
    assert isinstance(item.c.embedding.type, Vector)
    copy = create_engine(f"vsql:///{tmp_path / 'copy.duckdb'}")
    metadata.create_all(copy)
    with copy.begin() as conn:
        conn.execute(insert(item), [{"category": "a", "embedding": v} for v in VECTORS[:10]])
        got = conn.scalars(select(item.c.id).order_by(item.c.embedding.l2_distance(Q)).limit(3)).all()
        assert got == nearest(VECTORS[:10], Q, L2, k=3)
        assert conn.execute(text("SELECT method FROM vsql.indexes WHERE name = 'my_index'")).scalar() == "hnsw"
    copy.dispose()


def test_executemany_is_one_batch(engine, monkeypatch):
    calls, batches = [], []
    real = bulk.insert_many

    def spy(session, sql, rows):
        count = real(session, sql, rows)
        batches.append(count)
        return count

    monkeypatch.setattr(bulk, "insert_many", spy)
    event.listen(engine, "before_cursor_execute", lambda *args: calls.append(args[-1]))
    items = Item.__table__
    with engine.begin() as conn:
        result = conn.execute(insert(items), [{"id": i + 1, "category": "a", "embedding": v}
                                              for i, v in enumerate(VECTORS)])
        assert result.rowcount == len(VECTORS)
    assert calls == [True] and batches == [len(VECTORS)]  # one executemany, loaded as one Arrow batch
    with engine.connect() as conn:
        assert conn.scalar(select(sqlalchemy.func.count()).select_from(items)) == len(VECTORS)


def test_core_insert_values_list(engine):
    with engine.begin() as conn:
        conn.execute(insert(Item.__table__).values([{"embedding": [1, 2, 3]}, {"embedding": np.ones(3)}]))
        rows = conn.execute(select(Item.id, Item.embedding).order_by(Item.id)).all()
    assert [r.id for r in rows] == [1, 2]
    np.testing.assert_array_equal(rows[1].embedding, np.ones(3, np.float32))


def test_transactions(tmp_path):
    engine = create_engine(f"vsql:///{tmp_path / 'items.duckdb'}")
    metadata = MetaData()
    t = Table("t", metadata, Column("id", Integer, primary_key=True, autoincrement=False))
    metadata.create_all(engine)
    with engine.connect() as conn:
        conn.execute(insert(t).values(id=1))
        conn.rollback()
        assert conn.scalar(select(sqlalchemy.func.count()).select_from(t)) == 0
        with pytest.raises(sqlalchemy.exc.NotSupportedError, match="no savepoints"):
            conn.begin_nested()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert conn.get_isolation_level() == "AUTOCOMMIT"
        conn.execute(insert(t).values(id=2))
    with engine.connect() as conn:  # the pool gives the connection back at the default level
        assert conn.get_isolation_level() == "REPEATABLE READ"
        assert conn.scalars(select(t.c.id)).all() == [2]
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            conn.execute(insert(t).values(id=2))
    with pytest.raises(sqlalchemy.exc.ArgumentError, match="SERIALIZABLE"):
        with engine.connect().execution_options(isolation_level="SERIALIZABLE") as conn:
            conn.execute(text("SELECT 1"))
    engine.dispose()


def test_pandas_read_sql_and_to_sql(items):
    pd = pytest.importorskip("pandas")
    frame = pd.read_sql(select(Item.id, Item.embedding).order_by(Item.embedding.l2_distance(Q)).limit(3), items)
    assert list(frame.id) == nearest(VECTORS, Q, L2, k=3)
    np.testing.assert_array_equal(frame.embedding[0], VECTORS[frame.id[0] - 1])
    out = pd.DataFrame({"name": ["x", "y"], "score": [0.5, 1.5], "n": [1, 2],
                        "embedding": [np.ones(3, np.float32), np.zeros(3, np.float32)]})
    assert out.to_sql("t", items, index=False, dtype={"embedding": Vector(3)}) == 2
    back = pd.read_sql("SELECT * FROM t ORDER BY n", items)
    assert list(back.columns) == ["name", "score", "n", "embedding"] and list(back.score) == [0.5, 1.5]
    assert isinstance(inspect(items).get_columns("t")[3]["type"], Vector)
    out.to_sql("t", items, index=False, if_exists="append", dtype={"embedding": Vector(3)})
    assert pd.read_sql(text("SELECT count(*) AS n FROM t"), items).n[0] == 4


def test_errors_are_sqlalchemy_errors(engine):
    with engine.connect() as conn:
        with pytest.raises(sqlalchemy.exc.DataError, match="expected 3 dimensions, not 2"):
            conn.execute(insert(Item.__table__).values(embedding=[1, 2]))
    with engine.connect() as conn:
        with pytest.raises(sqlalchemy.exc.StatementError, match="ndim 1"):  # not sent
            conn.execute(insert(Item.__table__).values(embedding=np.ones((2, 3))))


def test_schemas_and_foreign_keys_through_the_orm(engine):
    metadata = MetaData(schema="shop")
    parent = Table("parent", metadata, Column("id", Integer, primary_key=True), Column("e", Vector(2)))
    Table("child", metadata, Column("id", Integer, primary_key=True), Column("parent_id", ForeignKey(parent.c.id)))
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA shop"))
    metadata.create_all(engine)
    insp = inspect(engine)
    assert insp.get_schema_names() == ["main", "shop"]
    assert insp.get_table_names(schema="shop") == ["child", "parent"]
    [fk] = insp.get_foreign_keys("child", schema="shop")
    assert (fk["referred_schema"], fk["referred_table"]) == ("shop", "parent")
    assert insp.get_columns("parent", schema="shop")[1]["type"].dim == 2


def test_reflection_before_any_vector_index(tmp_path):
    """vsql makes its `vsql` schema with the first vector index; reflection must not need it."""
    engine = create_engine(f"vsql:///{tmp_path / 'plain.duckdb'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INT PRIMARY KEY, e VECTOR(2))"))
        conn.execute(text("CREATE INDEX t_id ON t (id)"))
    assert [i["name"] for i in inspect(engine).get_indexes("t")] == ["t_id"]
    engine.dispose()
