"""The cooccurrence model (MODELS.md section 1) in PyTorch, vectorised over runs with functorch's vmap and
grad: the way a researcher would batch a sweep by hand. Word embeddings are gathered, not multiplied."""
import math

import torch
from functorch import grad, vmap


def loss_fn(W, Q, K, V, a, tok, y):
    # W (m1, m); Q, K, V (d, m) with word columns as rows; a (m1,); tok (n, L); y (n,)
    m = Q.shape[1]
    q = Q[tok]  # (n, L, m)
    k = K[tok]
    v = V[tok]
    s = torch.einsum("nlm,nkm->nlk", q, k) / math.sqrt(m)  # (n, query, key)
    p = torch.softmax(s, dim=-1)
    u = a @ W  # (m,)
    r = v @ u  # (n, L)
    F = (p * r.unsqueeze(1)).sum(dim=(1, 2))
    return torch.nn.functional.softplus(-y * F).mean()


batched_grad = vmap(grad(loss_fn, argnums=(0, 1, 2, 3)))


def make_runs(R, d, L, n, m, m1, dtype, seed=0):
    """Random data of the paper's composition and kaiming initialisation, R runs."""
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(3, d, (R, n, L), generator=g)
    y = -torch.ones(R, n, dtype=dtype)
    for r in range(R):
        for i in range(n):
            perm = torch.randperm(L, generator=g)
            tok[r, i, perm[0]] = 2
            t = 0 if i < n // 2 else 1 + (i - n // 2) * 3 // (n - n // 2)
            if t in (0, 1):
                tok[r, i, perm[1]] = 0
            if t in (0, 2):
                tok[r, i, perm[2]] = 1
            if t == 0:
                y[r, i] = 1
    W = torch.randn(R, m1, m, generator=g, dtype=dtype) * math.sqrt(2 / m)
    Q, K, V = (torch.randn(R, d, m, generator=g, dtype=dtype) * math.sqrt(2 / d) for _ in range(3))
    a = torch.where(torch.rand(R, m1, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    return [W, Q, K, V], a, tok, y


def train(params, a, tok, y, steps, lr, lr_ratio):
    W, Q, K, V = params
    rates = (lr, lr * lr_ratio, lr * lr_ratio, lr * lr_ratio)
    with torch.no_grad():
        for _ in range(steps):
            grads = batched_grad(W, Q, K, V, a, tok, y)
            for p, gp, rate in zip((W, Q, K, V), grads, rates):
                p.sub_(rate * gp)
    return W, Q, K, V
