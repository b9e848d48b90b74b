"""Fit the answer head (index/head.py) for `qabot train`, and give the pick model honest head features.

The head is W in score = scale · qᵀ W s, over the encoder's frozen question and sentence vectors,
fitted listwise like the pick model: for each question with an answering candidate, the softmax over
its candidates' scores should put its mass on the answering ones. W starts at the identity (the
cosine) and an L2 penalty on W − I keeps it near there, so little data moves it little. Full batch,
a fixed number of Adam steps, nothing random: the same data gives the same head.

The pick model must learn from head scores like those it will see on new questions, so each training
question's head columns come from a head fitted without its group (`cross_fitted`); a question's own
label never shapes the score it is trained on.

Tried before this recipe (held out, docs/BENCHMARKS.md): the whole bi-encoder fine-tuned on two cores
picks better alone but separates answerable from not worse, and changes the index; the head changes
neither the index nor retrieval.
"""

from __future__ import annotations

import numpy as np

from index.head import AnswerHead

HEAD_L2 = 1e-3  # penalty on ||W - I||², per unit of (weighted) question
HEAD_STEPS = 300
HEAD_LR = 2e-3
HEAD_SCALE = 20.0  # the starting softmax temperature (learned from there)
HEAD_FOLDS = 5  # cross-fitting: each training question's head columns from a head fitted without it
HEAD_SEED = 20261207


def fit_head(examples: list, weights: np.ndarray) -> AnswerHead:
    """W and scale from the examples with an answering candidate (`Example.qv`, `.sv`, `.y`), each
    weighted by `weights`; stored as float16 like the shipped file, so training sees what ships."""
    import torch

    keep = [i for i, e in enumerate(examples) if e.y.any()]
    dim = examples[0].qv.shape[0] if examples else 0
    if not keep:
        return AnswerHead.identity(dim, HEAD_SCALE)
    k = max(len(examples[i].y) for i in keep)
    q = np.zeros((len(keep), dim), np.float32)
    s = np.zeros((len(keep), k, dim), np.float32)
    valid = np.zeros((len(keep), k), bool)
    pos = np.zeros((len(keep), k), bool)
    for row, i in enumerate(keep):
        e, n = examples[i], len(examples[i].y)
        q[row], s[row, :n], valid[row, :n], pos[row, :n] = e.qv, e.sv, True, e.y
    q_t, s_t, valid_t, pos_t = (torch.from_numpy(a) for a in (q, s, valid, pos))
    w_t = torch.tensor(weights[keep], dtype=torch.float32)
    eye = torch.eye(dim)
    delta = torch.zeros(dim, dim, requires_grad=True)
    log_scale = torch.tensor(float(np.log(HEAD_SCALE)), requires_grad=True)
    opt = torch.optim.Adam([delta, log_scale], lr=HEAD_LR)
    for _ in range(HEAD_STEPS):
        z = torch.exp(log_scale) * torch.einsum("nd,nkd->nk", q_t @ (eye + delta), s_t)
        z = z.masked_fill(~valid_t, -1e9)
        listwise = torch.logsumexp(z, 1) - torch.logsumexp(z.masked_fill(~pos_t, -1e9), 1)
        loss = (listwise * w_t).sum() / w_t.sum() + HEAD_L2 * (delta * delta).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    head = AnswerHead((eye + delta).detach().numpy(), float(torch.exp(log_scale).detach()))
    return AnswerHead.from_json(head.to_json())


def with_head(examples: list, head: AnswerHead) -> list:
    """Copies of `examples` whose head columns hold `head`'s scores."""
    from dataclasses import replace

    from index.reader import set_head

    return [replace(e, x=set_head(e.x, head, e.qv, e.sv)) for e in examples]


def cross_fitted(examples: list, weights: np.ndarray) -> list:
    """Copies of `examples` whose head columns come from heads fitted without their group."""
    from bench.train import cross_fit

    return cross_fit(examples, weights, fit_head, with_head, HEAD_FOLDS, HEAD_SEED)
