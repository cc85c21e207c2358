"""The benchmark peers answer correctly: against NumPy brute force on small data, for every
available peer, index kind, metric and filter, so a benchmark comparing their speed compares
right answers; and the stored databases open again with the same answers. A peer that cannot run
here (not installable offline, server will not start) is skipped with its reason."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `benchmarks` is not an installed package

from benchmarks import data  # noqa: E402
from benchmarks.peers import (  # noqa: E402
    DuckdbVssPeer, LancedbPeer, MilvusPeer, PgvectorPeer, SqliteVecPeer, all_peers)
from benchmarks.peers.base import keep  # noqa: E402

pytestmark = pytest.mark.slow  # starts every peer's server or library: about 40 s; CI runs it
N, DIM, K = 2000, 16, 10
LISTS = 20
HALF = ("cat_lt", data.CATEGORIES // 2)  # keeps about half the rows
METRICS = ["l2", "ip", "cosine"]


@pytest.fixture(scope="module")
def rows():
    return data.clustered(N, DIM, seed=3)


@pytest.fixture(scope="module")
def queries():
    return data.queries(20, DIM, seed=3)[0]


@pytest.fixture(scope="module", params=[type(p) for p in all_peers()], ids=lambda cls: cls.name)
def peer(request, rows):
    """One running peer per module holding `rows`; each test builds the index it needs."""
    instance = request.param()
    reason = instance.available()
    if reason is not None:
        instance.close()
        pytest.skip(f"{instance.name}: {reason}")
    instance.load(*rows)
    yield instance
    instance.close()


def needs(peer, kind, metric="l2"):
    """Skip unless the peer has this index kind and metric (sqlite-vec: flat only; vss: HNSW only)."""
    if kind not in peer.kinds or metric not in peer.metrics:
        pytest.skip(f"{peer.name} has no {kind} index with metric {metric}")


def exact(rows, query, metric, where=None):
    """Brute-force distances (float64) of every row to `query`; rows that fail `where` are at infinity."""
    ids, vectors, cats = rows
    vectors, query = vectors.astype(np.float64), query.astype(np.float64)
    if metric == "l2":
        dist = np.linalg.norm(vectors - query, axis=1)
    elif metric == "ip":
        dist = -(vectors @ query)
    else:
        dist = 1 - vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    if where is not None:
        dist[~keep(cats, where)] = np.inf
    return dist


def recall(rows, found, query, metric, where=None):
    truth = rows[0][np.argsort(exact(rows, query, metric, where))[:K]]
    return len(set(found) & set(truth.tolist())) / K


def assert_exact(rows, found, query, metric, where=None):
    """`found` is a true top-k: k distinct rows, none farther than the k-th nearest (ties either way)."""
    dist = dict(zip(rows[0].tolist(), exact(rows, query, metric, where)))
    kth = np.sort(list(dist.values()))[K - 1]
    assert len(found) == len(set(found)) == K
    assert all(dist[i] <= kth + 1e-5 * abs(kth) + 1e-6 for i in found)
    assert [dist[i] for i in found] == pytest.approx(sorted(dist[i] for i in found), rel=1e-5, abs=1e-6)


def passes(rows, found, where):
    ids, _, cats = rows
    return set(found) <= set(ids[keep(cats, where)].tolist())


@pytest.mark.parametrize("metric", METRICS)
def test_hnsw_recall(peer, rows, queries, metric):
    needs(peer, "hnsw", metric)
    assert peer.build("hnsw", metric, {"m": 16, "ef_construction": 64}) > 0
    for where in (None,) if peer.post_filters else (None, HALF):
        found = [peer.search(q, K, where, {"ef_search": 100}) for q in queries]
        assert np.mean([recall(rows, f, q, metric, where) for f, q in zip(found, queries)]) > 0.9
        assert where is None or all(passes(rows, f, where) for f in found)


@pytest.mark.parametrize("metric", METRICS)
def test_ivfflat_all_probes_is_exact(peer, rows, queries, metric):
    needs(peer, "ivfflat", metric)
    peer.build("ivfflat", metric, {"lists": LISTS})
    for where in (None, HALF):
        for q in queries:
            assert_exact(rows, peer.search(q, K, where, {"probes": LISTS}), q, metric, where)


@pytest.mark.parametrize("metric", METRICS)
def test_flat_is_exact(peer, rows, queries, metric):
    needs(peer, "flat", metric)
    peer.build("flat", metric)
    for where in (None, HALF, (("cat", "<", 5), ("cat", "=", 2))):
        for q in queries:
            found = peer.search(q, K, where)
            assert_exact(rows, found, q, metric, where)


def test_ivfflat_one_probe_is_approximate(peer, rows, queries):
    """One probe of 20 lists misses neighbours: proof the setting reaches the index."""
    needs(peer, "ivfflat")
    peer.build("ivfflat", "l2", {"lists": LISTS})
    one = np.mean([recall(rows, peer.search(q, K, None, {"probes": 1}), q, "l2") for q in queries])
    every = np.mean([recall(rows, peer.search(q, K, None, {"probes": LISTS}), q, "l2") for q in queries])
    assert one < every == 1


def test_batch_matches_single(peer, queries):
    needs(peer, "hnsw")
    peer.build("hnsw", "l2")
    for where in (None, HALF):
        assert peer.search_batch(queries, K, where, {"ef_search": 60}) == [
            peer.search(q, K, where, {"ef_search": 60}) for q in queries]


def test_unknown_names_are_rejected(peer, queries):
    kind = peer.kinds[0]
    with pytest.raises(ValueError, match="efsearch"):
        peer.build(kind, "l2", {"efsearch": 10})
    peer.build(kind, "l2")
    with pytest.raises(ValueError, match="probes" if kind == "hnsw" else "ef_search"):
        peer.search(queries[0], K, None, {"probes": 3} if kind == "hnsw" else {"ef_search": 3})
    with pytest.raises(ValueError, match="cat_gt"):
        peer.search(queries[0], K, ("cat_gt", 1))


def test_filters_on_named_columns(peer, rows, queries):
    """The benchmark's filters: a conjunction of terms over any loaded column."""
    kind = peer.kinds[0]
    peer.build(kind, "l2")
    where = (("cat", "<", 5), ("cat", "=", 2))
    found = peer.search(queries[0], K, where, {"ef_search": 200} if kind == "hnsw" else None)
    assert found and passes(rows, found, where)


def test_reopened_database_answers_alike(peer, queries):
    """What `reopen` times: the stored database opens again and gives the same answers."""
    kind = peer.kinds[0]
    peer.build(kind, "l2")
    before = [peer.search(q, K) for q in queries[:3]]
    size = peer.disk_bytes()
    assert size is None or size > N * DIM * 4
    assert peer.reopen(queries[0], K) > 0
    assert [peer.search(q, K) for q in queries[:3]] == before


only_pgvector = pytest.mark.parametrize("peer", [PgvectorPeer], indirect=True, ids=["pgvector"])


@pytest.mark.parametrize("peer", [DuckdbVssPeer], indirect=True, ids=["duckdb-vss"])
def test_duckdb_vss_post_filters(peer, rows, queries):
    """vss's index hands over k rows and the filter comes after it: half the rows pass, about
    half the answer is left, however deep the search."""
    peer.build("hnsw", "l2")
    assert "HNSW_INDEX_SCAN" in peer.explain(queries[0], K, HALF)
    found = [peer.search(q, K, HALF, {"ef_search": 400}) for q in queries]
    assert all(passes(rows, f, HALF) for f in found)
    assert np.mean([len(f) for f in found]) < 0.7 * K


@pytest.mark.parametrize("peer", [LancedbPeer, MilvusPeer, SqliteVecPeer], indirect=True,
                         ids=["lancedb", "milvus-lite", "sqlite-vec"])
def test_prefiltering_peers_keep_k_rows(peer, rows, queries):
    """LanceDB (prefilter=True), Milvus Lite and sqlite-vec filter before ranking: k rows at 10%."""
    kind = peer.kinds[0]
    peer.build(kind, "l2")
    found = [peer.search(q, K, ("cat_eq", 0)) for q in queries]
    assert all(len(f) == K and passes(rows, f, ("cat_lt", 1)) for f in found)


@only_pgvector
def test_pgvector_plans_use_the_index(peer, queries):
    for kind, metric in (("hnsw", "l2"), ("ivfflat", "cosine")):
        peer.build(kind, metric, {"lists": LISTS} if kind == "ivfflat" else None)
        assert "Index Scan using items_embedding" in peer.explain(queries[0], K)


@only_pgvector
def test_pgvector_iterative_scan(peer, rows, queries):
    """A filter starves a small ef_search of rows; pgvector 0.8's iterative scan refills them."""
    peer.build("hnsw", "l2")
    where, small = ("cat_lt", 3), {"ef_search": 10}  # 30% of the rows: still planned as an index scan
    assert "Index Scan using items_embedding" in peer.explain(queries[0], K, where, small)
    starved = [peer.search(q, K, where, small) for q in queries]
    refilled = [peer.search(q, K, where, {**small, "iterative_scan": "relaxed_order"}) for q in queries]
    assert np.mean([len(f) for f in starved]) < K / 2
    assert all(len(f) == K and passes(rows, f, where) for f in refilled)
    # Settings are complete on every change: the earlier iterative scan does not leak into this one.
    assert peer.search_batch(queries, K, where, small) == starved


def test_pgvector_stops_its_server():
    peer = PgvectorPeer()
    if (reason := peer.available()) is not None:
        pytest.skip(reason)
    folder = Path(peer._server.dir)
    assert (folder / "data" / "postmaster.pid").exists() and set(peer.startup) >= {"initdb", "start"}
    peer.close()
    assert not folder.exists()
    peer.close()  # twice is harmless



def test_pgvector_reports_why_it_cannot_start():
    reason = PgvectorPeer(shared_buffers="lots").available()
    if "server start" not in reason:
        pytest.skip(f"pgvector cannot get as far as starting a server here: {reason}")
    assert 'invalid value for parameter "shared_buffers"' in reason


def test_duckdb_vss_reports_why_it_cannot_start(tmp_path):
    (tmp_path / "file").write_text("")
    peer = DuckdbVssPeer(cache=tmp_path / "file" / "cache")  # no folder can be made under a file
    reason = peer.available()
    assert reason and peer.available() == reason  # asked again: the same answer, no second attempt
    peer.close()
