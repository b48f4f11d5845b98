"""The training half of :func:`mi_utils.estimate.estimate_mi`: runs as one batched critic,
each on its own split, with early stopping on validation data and held-out test values."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..fit import fit
from ..nn import make_baseline, make_critic
from .evaluation import evaluate_blocks, spec_ceiling
from .preprocess import make_preprocessor

__all__ = ["split_sizes", "train_runs"]

#: Default held-out block of separable critics (concat critics use the batch size).
SEPARABLE_EVAL_BLOCK = 2048


def split_sizes(split, n: int) -> list[int]:
    """The sizes of the training, validation and test sets: each fraction of ``split`` times
    ``n``, rounded down (a tolerance keeps 0.6 * 10 at 6)."""
    return [math.floor(p * n + 1e-9) for p in split]


class _Runs:
    """``R`` runs: their splits, preprocessed data, batched critic and baseline."""

    def __init__(self, xs, ys, spec, settings, eval_block, device):
        r, n = settings["num_runs"], xs.shape[0]
        n_train, n_val, n_test = split_sizes(settings["split"], n)
        g = torch.Generator().manual_seed(settings["seed"])
        perms = torch.stack([torch.randperm(n, generator=g) for _ in range(r)])
        self.idx = {
            "train": perms[:, :n_train],
            "validation": perms[:, n_train : n_train + n_val],
            "test": perms[:, n_train + n_val : n_train + n_val + n_test],
        }
        self.idx["train_subset"] = self.idx["train"][:, :n_val]
        self.preprocessors = []
        x_runs, y_runs = [], []
        for run in range(r):  # preprocessing fitted on each run's training split only
            train = self.idx["train"][run]
            px = make_preprocessor(settings["preprocess"]).fit(xs[train])
            py = make_preprocessor(settings["preprocess"]).fit(ys[train])
            self.preprocessors.append((px, py))
            x_runs.append(px(xs))
            y_runs.append(py(ys))
        self.x = torch.stack(x_runs).to(device=device, dtype=torch.float32)
        self.y = torch.stack(y_runs).to(device=device, dtype=torch.float32)
        self.idx = {k: v.to(device) for k, v in self.idx.items()}
        self.n_train, self.n_test = n_train, n_test
        kind, hidden = settings["critic"], settings["hidden_dim"]
        init = torch.Generator().manual_seed(settings["seed"] + 1)
        opts = dict(hidden_dim=hidden, num_layers=settings["num_layers"], generator=init,
                    device=device, dtype=torch.float32)  # fmt: skip
        if kind == "separable":
            opts["embed_dim"] = settings["embed_dim"]
        self.critic = make_critic(kind, xs.shape[1], ys.shape[1], num_runs=r, **opts)
        self.baseline = None
        if spec.needs_baseline:
            b_opts = {k: v for k, v in opts.items() if k != "embed_dim"}
            self.baseline = make_baseline("mlp", ys.shape[1], num_runs=r, **b_opts)
        self.pairwise = kind == "concat"
        self.batch = min(settings["batch_size"], n_train)
        default_block = SEPARABLE_EVAL_BLOCK if not self.pairwise else self.batch
        self.block = eval_block or default_block
        self.spec, self.settings, self.device = spec, settings, device
        self.data_gen = torch.Generator(device=device).manual_seed(settings["seed"] + 2)

    def params(self) -> list[torch.Tensor]:
        out = list(self.critic.parameters())
        return out + (list(self.baseline.parameters()) if self.baseline is not None else [])

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, ``y`` ``[R, m, d]`` of each run's data rows ``[R, m]``."""
        x = self.x.gather(1, rows[..., None].expand(-1, -1, self.x.shape[-1]))
        y = self.y.gather(1, rows[..., None].expand(-1, -1, self.y.shape[-1]))
        return x, y

    def minibatch(self) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.idx["train"].shape[0]
        pick = torch.randint(self.n_train, (r, self.batch), generator=self.data_gen,
                             device=self.device)  # fmt: skip
        return self.gather(self.idx["train"].gather(1, pick))

    def value(self, split: str, options) -> torch.Tensor:
        x, y = self.gather(self.idx[split])
        return evaluate_blocks(
            self.spec, self.critic, self.baseline, x, y, block=self.block,
            hidden=self.settings["hidden_dim"], pairwise=self.pairwise, options=options,
        )  # fmt: skip


def train_runs(xs, ys, spec, options, settings, eval_block, device, progress):
    """Train and evaluate the runs; returns a dict of the numbers
    :class:`~mi_utils.estimate.MIEstimate` needs."""
    runs = _Runs(xs, ys, spec, settings, eval_block, device)
    params = runs.params()
    r = settings["num_runs"]
    state = [None]
    best = [p.detach().clone() for p in params]
    best_val = torch.full((r,), -math.inf, device=device)
    best_step = torch.zeros(r, dtype=torch.long, device=device)
    since = torch.zeros(r, dtype=torch.long, device=device)
    rows: list[tuple[int, str, torch.Tensor]] = []
    max_steps, every = settings["max_steps"], settings["eval_every"]
    stopped = [max_steps]

    def objective(step: int) -> torch.Tensor:
        x, y = runs.minibatch()
        scores = runs.critic(x, y)
        log_a = runs.baseline(y) if runs.baseline is not None else None
        value, state[0] = spec(scores, log_baseline=log_a, state=state[0], **options)
        return value

    def on_step(step: int) -> bool:
        done = step + 1
        if done % every and done != max_steps:
            return False
        train_v, val_v = runs.value("train_subset", options), runs.value("validation", options)
        rows.append((done, "train", train_v))
        rows.append((done, "validation", val_v))
        # The first evaluation always counts (even at -inf or NaN); later ones must improve.
        better = (val_v > best_val) | (best_step == 0)
        with torch.no_grad():
            for p, b in zip(params, best, strict=True):
                b.copy_(torch.where(better.view(-1, *[1] * (p.dim() - 1)), p, b))
        best_val.copy_(torch.where(better, val_v, best_val))
        best_step.copy_(torch.where(better, done, best_step))
        since.copy_(torch.where(better, 0, since + 1))
        if bool((since >= settings["patience"]).all()):
            stopped[0] = done
            return True
        return False

    fit(objective, params, max_steps, lr=settings["lr"], record_every=every, progress=progress,
        desc=f"{r} runs of {spec.name}", on_step=on_step)  # fmt: skip
    with torch.no_grad():
        for p, b in zip(params, best, strict=True):
            p.copy_(b)
    test = runs.value("test", options).double().cpu().numpy()
    steps = best_step.cpu().numpy()
    curve = {(s, split): v.double().cpu().numpy() for s, split, v in rows}
    at_best = {
        split: np.array([curve[(int(steps[i]), split)][i] for i in range(r)])
        for split in ("train", "validation")
    }
    last = max(s for s, _, _ in rows)
    return dict(
        test=test,
        steps=steps,
        rows=[(s, sp, curve[(s, sp)]) for s, sp, _ in rows],
        at_best=at_best,
        last_step=last,
        stopped_early=stopped[0] < max_steps,
        critics=tuple(runs.critic.unbatched(i) for i in range(r)),
        baselines=tuple(
            runs.baseline.unbatched(i) if runs.baseline is not None else None for i in range(r)
        ),
        preprocessors=tuple(runs.preprocessors),
        splits=tuple(
            {k: runs.idx[k][i].cpu().numpy() for k in ("train", "validation", "test")}
            for i in range(r)
        ),
        n_train=runs.n_train,
        n_test=runs.n_test,
        block=runs.block,
        eval_ceiling=spec_ceiling(spec.name, min(runs.block, runs.n_test), options),
    )
