"""Shared fixtures: the real corpus indexed once per test session with the real bundled model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEV_SET = SHARED / "eval" / "dev.jsonl"


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory):
    """Settings whose index lives in a temp folder and whose sources are the project's corpus (read only)."""
    from index.config import Settings

    index_dir = tmp_path_factory.mktemp("index")
    return Settings(root=ROOT, index_dir=str(index_dir))


@pytest.fixture(scope="session")
def engine(corpus_settings):
    """An Engine over the bundled corpus, built with the real model (once per session)."""
    from index.engine import Engine

    eng = Engine(corpus_settings)
    eng.rebuild(full=True)
    return eng


@pytest.fixture()
def corpus_copy(tmp_path):
    """A writable copy of the corpus (both source folders) with Settings pointing at it."""
    from index.config import Settings

    for folder in ("docs_corpus", "seeds"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return Settings(root=tmp_path, index_dir=".qabot")


@pytest.fixture()
def hash_encoder():
    """A deterministic stand-in encoder for tests about store mechanics, not retrieval quality."""
    from index.embedding import HashEncoder

    return HashEncoder()


def require_shared(path: Path = DEV_SET):
    if not path.exists():
        pytest.skip(f"{path} is not present (../shared is only beside a development checkout)")
    return path
