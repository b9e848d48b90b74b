"""Run the real `qabot` CLI (cli.main.main) in a subprocess, instrumented for fault tests.

Not a test module: tests start it as `python tests/qabot_probe.py QABOT-ARGS...`.

Environment:
    QT_ENCODER=hash   use the deterministic HashEncoder instead of the real model (fast builds)
    QT_STOP=NAME      pause at the named moment (after printing "@NAME" to stderr) until the file
                      $QT_GO exists (or forever): a test kills or resumes the process there
    QT_FAIL=enospc    every numpy.save fails with "No space left on device"
Every instrumented moment prints "@NAME" to stderr as it is reached, so a test can also kill
a moment later without pausing.
"""

from __future__ import annotations

import errno
import os
import sys
import time

STOP = os.environ.get("QT_STOP", "")
GO = os.environ.get("QT_GO", "")
_counts: dict[str, int] = {}


def mark(name: str) -> None:
    print("@" + name, file=sys.stderr, flush=True)
    if name == STOP:
        while not (GO and os.path.exists(GO)):
            time.sleep(0.02)


def _wrap(obj, attr, before=None, after=None, nth=None):
    fn = getattr(obj, attr)

    def wrapper(*a, **kw):
        key = f"{getattr(obj, '__name__', obj)}.{attr}"
        _counts[key] = _counts.get(key, 0) + 1
        n = _counts[key]
        if before and (nth is None or n == nth):
            mark(before)
        out = fn(*a, **kw)
        if after and (nth is None or n == nth):
            mark(after)
        return out

    setattr(obj, attr, wrapper)


def instrument() -> None:
    import numpy as np

    import index.build as build
    import index.embedding as emb
    import index.loaders as loaders
    import index.store as store
    import index.vectors as vectors

    if os.environ.get("QT_ENCODER") == "hash":
        emb._shared = emb.HashEncoder()
    if os.environ.get("QT_FAIL") == "enospc":

        def no_space(*a, **kw):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        np.save = no_space

    orig_cleanup = store.IndexStore.cleanup
    calls = {"n": 0}

    def cleanup(self, *a, **kw):
        calls["n"] += 1
        mark(f"cleanup-{calls['n']}")
        return orig_cleanup(self, *a, **kw)

    store.IndexStore.cleanup = cleanup
    _wrap(build, "load_all", before="load", after="loaded")  # the folders and the sources' snapshots
    _wrap(loaders, "load_file", before="load-mid", nth=10)
    _wrap(build, "chunk_document", before="chunk", nth=5)
    for cls in (emb.Encoder, emb.HashEncoder):
        orig = cls.encode

        def encode(self, texts, progress=False, desc="embedding", _orig=orig):
            if texts:
                mark(f"embed-{desc}")
            return _orig(self, texts, progress=progress, desc=desc)

        cls.encode = encode
    _wrap(emb.Encoder, "_encode", before="embed-batch")  # the model is loaded by then
    _wrap(store.IndexStore, "new_build_dir", after="tmpdir")
    _wrap(vectors, "make_faiss_index", before="db-written")
    orig_save = np.save

    def save(file, *a, **kw):
        if "chunk_vecs" in str(file):
            mark("npy")
        return orig_save(file, *a, **kw)

    np.save = save
    _wrap(store.IndexStore, "commit", before="commit", after="committed")
    real_fsync = os.fsync
    fs = {"n": 0}

    def fsync(fd):
        fs["n"] += 1
        if fs["n"] == 1:
            mark("fsync")
        return real_fsync(fd)

    store.os.fsync = fsync  # store's `os` is the os module: this is process wide, which is fine here
    _wrap(store.os, "rename", before="rename", after="renamed")
    _wrap(store.os, "replace", before="switch", after="switched")


if __name__ == "__main__":
    instrument()
    from cli.main import main

    sys.exit(main(sys.argv[1:]))
