"""A small real embedding model for tests of the model registry: character trigrams hashed into
32 dimensions (and a 3-dimensional one), deterministic and fast. The MiniLM model is tested too."""

import threading
import zlib

import numpy as np


def _embed(texts, dim):
    out = np.zeros((len(texts), dim), np.float32)
    for row, text in enumerate(texts):
        padded = f"  {text.lower()}  "
        for i in range(len(padded) - 2):
            out[row, zlib.crc32(padded[i : i + 3].encode()) % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1)


def trigrams32(texts):
    return _embed(texts, 32)


def trigrams3(texts):
    return _embed(texts, 3)


def trigrams32b(texts):
    """A second version of the 32-dimensional model: the same trigrams, hashed with another seed."""
    return _embed([f"#{text}" for text in texts], 32)


GATE = threading.Event()
GATE.set()


def trigrams32b_gated(texts):
    """trigrams32b, waiting while a test holds GATE closed: writes the test makes meanwhile are
    surely made while a re-embedding runs, however fast the machine."""
    GATE.wait(60)
    return trigrams32b(texts)
