"""Fit the answer net (index/answer_net.py) for `qabot train`, and give the decide model honest net scores.

Each training question is one list: its candidates and "no answer". A softmax over the candidates'
logits and the no-answer logit is fitted to put its mass on the answering candidates, or on "no
answer" when none of them answers (an unanswerable question, or one whose answer was not retrieved):
the question the decide model asks, "is the answer here at all?", is what the net learns. Questions
are weighted as in the other fits (a bundled one counts BUNDLED_WEIGHT SQuAD ones). Minibatch AdamW
with weight decay, a fixed number of epochs, the initial weights and the batch order drawn from fixed
seeds: the same data gives the same net.

Held out (lab, the bundled questions out of fold), this listwise net reading the candidates' features
beside the vectors raised answerability AUROC from 0.817 to 0.836, where the pointwise one over the
vectors alone ("this pair answers", BCE) stood; the no-answer logit or the features alone gave 0.825
and 0.830 (docs/BENCHMARKS.md, "The reader, sixth version").

The decide model must learn from net scores like those it will see on new questions, so each training
question's score comes from a net fitted without its group (`cross_fitted`), as the head's columns do
(bench/head.py).
"""

from __future__ import annotations

import numpy as np

from index.answer_net import AnswerNet

NET_UNITS = 64
NET_EPOCHS = 20
NET_LR = 1e-3
NET_DECAY = 1e-4  # AdamW's weight decay
NET_BATCH = 18  # questions per step: about 540 candidates
NET_FOLDS = 5  # cross-fitting: each training question's score from a net fitted without it
NET_SEED = 20261208
NET_SKIPS = ("head", "head_margin")  # candidate features the net does not read: the head's, cross-fitted apart


def net_features() -> tuple[str, ...]:
    """The reader's candidate features the net reads beside the vectors."""
    from index.reader import CANDIDATE_FEATURES

    return tuple(n for n in CANDIDATE_FEATURES if n not in NET_SKIPS)


def fit_net(examples: list, weights: np.ndarray) -> AnswerNet:
    """The net from the candidates of `examples` (`Example.qv`, `.sv`, `.x`, `.y`), each question
    weighted by `weights`; stored as float16 like the shipped file, so training sees what ships."""
    import torch

    from bench.train import standardised
    from index.reader import feature_columns

    names = net_features()
    cols = feature_columns(names)
    mean, scale = standardised(np.vstack([e.x[:, cols] for e in examples]))
    dim, width = examples[0].qv.shape[0], max(len(e.y) for e in examples)
    n = len(examples)
    q = np.stack([e.qv for e in examples]).astype(np.float32)
    s = np.zeros((n, width, dim), np.float32)
    x = np.zeros((n, width, len(cols)), np.float32)
    y = np.zeros((n, width), bool)
    valid = np.zeros((n, width), bool)
    for i, e in enumerate(examples):  # padded to the longest list; the padding is masked out
        k = len(e.y)
        s[i, :k], x[i, :k], y[i, :k], valid[i, :k] = e.sv, (e.x[:, cols] - mean) / scale, e.y, True
    # the list's last place is "no answer": the right one when no candidate answers
    target = np.concatenate([y, ~y.any(axis=1, keepdims=True)], axis=1)
    q_t, s_t, x_t = map(torch.from_numpy, (q, s, x))
    valid_t = torch.from_numpy(np.concatenate([valid, np.ones((n, 1), bool)], axis=1))
    target_t = torch.from_numpy(target)
    w = torch.from_numpy(np.asarray(weights, dtype=np.float32))
    torch.manual_seed(NET_SEED)
    order = torch.Generator().manual_seed(NET_SEED)
    nn = torch.nn
    pair = nn.Sequential(nn.Linear(4 * dim + len(cols), NET_UNITS), nn.ReLU(), nn.Linear(NET_UNITS, 1))
    null = nn.Sequential(nn.Linear(dim, NET_UNITS), nn.ReLU(), nn.Linear(NET_UNITS, 1))
    opt = torch.optim.AdamW([*pair.parameters(), *null.parameters()], lr=NET_LR, weight_decay=NET_DECAY)
    for _ in range(NET_EPOCHS):
        perm = torch.randperm(n, generator=order)
        for i in range(0, n, NET_BATCH):
            b = perm[i : i + NET_BATCH]
            qb, sb = q_t[b][:, None, :].expand(-1, width, -1), s_t[b]
            z = pair(torch.cat([qb, sb, qb * sb, (qb - sb).abs(), x_t[b]], -1))[..., 0]
            z = torch.cat([z, null(q_t[b])], 1).masked_fill(~valid_t[b], -1e9)
            loss = torch.logsumexp(z, 1) - torch.logsumexp(z.masked_fill(~target_t[b], -1e9), 1)
            loss = (loss * w[b]).sum() / w[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    plain = lambda t: t.detach().numpy().copy()
    fitted = AnswerNet(
        names,
        mean.astype(np.float32),
        scale.astype(np.float32),
        plain(pair[0].weight).T,
        plain(pair[0].bias),
        plain(pair[2].weight)[0],
        float(pair[2].bias.detach()[0]),
        plain(null[0].weight).T,
        plain(null[0].bias),
        plain(null[2].weight)[0],
        float(null[2].bias.detach()[0]),
    )
    return AnswerNet.from_json(fitted.to_json())


def with_net(examples: list, net: AnswerNet) -> list:
    """Copies of `examples` whose net column (in `Example.tops`) holds `net`'s scores."""
    from dataclasses import replace

    from index.reader import set_net

    return [replace(e, tops=set_net(e.tops, net, e.qv, e.sv, e.x)) for e in examples]


def cross_fitted(examples: list, weights: np.ndarray) -> list:
    """Copies of `examples` whose net column comes from nets fitted without their group."""
    from bench.train import cross_fit

    return cross_fit(examples, weights, fit_net, with_net, NET_FOLDS, NET_SEED)
