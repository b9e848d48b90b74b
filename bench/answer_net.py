"""Fit the answer net (index/answer_net.py) for `qabot train`, and give the decide model honest net scores.

Every candidate of every training question is one pair: positive when its quote holds a gold answer,
negative otherwise (all of an unanswerable question's candidates). A question's pairs share its weight
(a bundled question counts BUNDLED_WEIGHT SQuAD ones, as in the other fits), so a question with many
candidates does not count more. Minibatch AdamW with weight decay, a fixed number of epochs, the
initial weights and the batch order drawn from fixed seeds: the same data gives the same net.

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
NET_BATCH = 512
NET_FOLDS = 5  # cross-fitting: each training question's score from a net fitted without it
NET_SEED = 20261208


def fit_net(examples: list, weights: np.ndarray) -> AnswerNet:
    """The net from every candidate of `examples` (`Example.qv`, `.sv`, `.y`), each question weighted by
    `weights`; stored as float16 like the shipped file, so training sees what ships."""
    import torch

    dim = examples[0].qv.shape[0]
    torch.manual_seed(NET_SEED)
    order = torch.Generator().manual_seed(NET_SEED)
    q = torch.from_numpy(np.stack([e.qv for e in examples]).astype(np.float32))
    s = torch.from_numpy(np.vstack([e.sv for e in examples]).astype(np.float32))
    owner = torch.from_numpy(np.concatenate([np.full(len(e.y), i) for i, e in enumerate(examples)]))
    y = torch.from_numpy(np.concatenate([e.y for e in examples]).astype(np.float32))
    w = torch.from_numpy(np.concatenate([np.full(len(e.y), wt / len(e.y)) for e, wt in zip(examples, weights)]))
    w = w.float()
    net = torch.nn.Sequential(torch.nn.Linear(4 * dim, NET_UNITS), torch.nn.ReLU(), torch.nn.Linear(NET_UNITS, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=NET_LR, weight_decay=NET_DECAY)
    for _ in range(NET_EPOCHS):
        perm = torch.randperm(len(y), generator=order)
        for i in range(0, len(y), NET_BATCH):
            b = perm[i : i + NET_BATCH]
            qb, sb = q[owner[b]], s[b]
            z = net(torch.cat([qb, sb, qb * sb, (qb - sb).abs()], 1))[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y[b], reduction="none")
            loss = (loss * w[b]).sum() / w[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    hidden, out = net[0], net[2]
    fitted = AnswerNet(
        hidden.weight.detach().numpy().T.copy(),
        hidden.bias.detach().numpy().copy(),
        out.weight.detach().numpy()[0].copy(),
        float(out.bias.detach()[0]),
    )
    return AnswerNet.from_json(fitted.to_json())


def with_net(examples: list, net: AnswerNet) -> list:
    """Copies of `examples` whose net column (in `Example.tops`) holds `net`'s scores."""
    from dataclasses import replace

    from index.reader import set_net

    return [replace(e, tops=set_net(e.tops, net, e.qv, e.sv)) for e in examples]


def cross_fitted(examples: list, weights: np.ndarray) -> list:
    """Copies of `examples` whose net column comes from nets fitted without their group."""
    from bench.train import cross_fit

    return cross_fit(examples, weights, fit_net, with_net, NET_FOLDS, NET_SEED)
