"""The Meta Sampler of Balanced Meta-Softmax (Ren et al., NeurIPS 2020, Sec 3.3; official code
BalancedMetaSoftmax-Classification data/MetaSampler.py and run_networks.py `meta_forward`), with
which FG (App F.4) fine-tunes the last layer on Places-LT: `sampler: meta` in a head-only stage.

A learnable weight w_c per class. Training sample k (class y_k) is drawn with probability
proportional to sigmoid(w_{y_k}): a hard Gumbel-softmax over the N training samples with logits
log sigmoid(w_{y_k}), straight-through (the one-hot keeps the gradient of its soft version, at
temperature 1). Before each ordinary training step, a meta step: a differentiable copy of the last
layer takes one step of the stage's own optimiser (its current LR and state) on the drawn batch's
per-sample loss, each sample weighted by its draw (value 1, gradient to w); the stepped layer's
cross-entropy on a class-balanced meta batch is differentiated to w, which Adam updates. The
ordinary step then trains on the same batch with the stage's loss.

Computed per class, exactly (ours; BALMS materialises the B x N soft samples): with u_ik ~ Exp(1)
the Gumbel noise g_ik = -log u_ik of batch row i and sample k, the draw argmax_k (log sigmoid(
w_{y_k}) + g_ik) is the class argmax_c (log sigmoid(w_c) + M_ic), M_ic = max over the class's
samples of g_ik, then the sample holding that maximum, which is uniform within the class and
independent of the noise's per-class statistics (exchangeability). The drawn sample's soft value
is sigmoid(w_c) exp(M_ic) / sum_c' sigmoid(w_c') E_ic', E_ic = sum over the class of exp(g_ik).
So (M, E), B x C statistics of the B x N noise drawn afresh for each batch, are all that the draw
and its gradient need: the graph to w is B x C. A class-level Gumbel-softmax (class logits
log n_c + log sigmoid(w_c)) would draw the same classes but differentiate differently (E_ic is not
n_c times a Gumbel's exp); tests/test_metasampler.py checks draws and gradients against the
literal instance-level softmax.

Each batch is drawn when the loop asks for it, from the weights after the previous step's meta
update, so the stage's training loader runs in this process (no prefetching workers); the meta
batches, which do not depend on w, load in the usual workers. Noise is seeded per (stage, epoch,
step); w and its Adam state are checkpointed with the model, so a resumed run draws what an
uninterrupted one draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from bench.io import seed_hash
from bench.train.samplers import BatchPlan

NOISE_ELEMENTS = 1 << 24  # B x N noise made in row chunks of at most this many elements


@dataclass
class Draw:
    """One drawn batch and the per-class statistics of the noise it was drawn with."""

    indices: np.ndarray  # dataset index of each drawn sample
    classes: torch.Tensor  # B: its class
    top: torch.Tensor  # B x C: M, the largest Gumbel noise of the class (-inf: no sample)
    mass: torch.Tensor  # B x C: log E, log of the sum of exp(noise) over the class


def initial_logits(counts: np.ndarray, power: float) -> torch.Tensor:
    """w with sigmoid(w_c) = p_c^-power / (min + max of that over classes), p_c = the class's share
    of the training split (SampleLearner.init_learner); a class with no sample gets 0 (it is never
    drawn: it has no sample to draw)."""
    present = counts > 0
    rate = (counts[present] / counts.sum()) ** -power
    rate = rate / (rate.min() + rate.max())
    out = np.zeros(len(counts))
    out[present] = np.log(rate) - np.log1p(-rate)
    return torch.as_tensor(out, dtype=torch.float32)


def noise_statistics(
    u: torch.Tensor, columns: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, log E) per row and class of the Gumbel noise -log u (rows x N, u ~ Exp(1)), `columns`
    the class of each of the N samples; computed as max + log sum exp(g - max), so stable."""
    rows, like = u.shape[0], {"dtype": u.dtype, "device": u.device}
    index = columns.expand(rows, -1)
    least = torch.full((rows, num_classes), math.inf, **like).scatter_reduce(1, index, u, "amin")
    ratio = least.gather(1, index) / u  # exp(g - M) in (0, 1]
    total = torch.zeros(rows, num_classes, **like).index_add_(1, columns, ratio)
    top = -least.log()
    return top, top + total.log()


def drawn_soft(logit: torch.Tensor, draw: Draw) -> torch.Tensor:
    """The soft Gumbel-softmax value of each drawn sample, differentiable in w: the gradient its
    straight-through one-hot carries."""
    log_rate = F.logsigmoid(logit).to(draw.top.device)
    chosen = log_rate[draw.classes] + draw.top.gather(1, draw.classes[:, None]).squeeze(1)
    return torch.exp(chosen - torch.logsumexp(log_rate + draw.mass, dim=1))


class MetaSampler:
    """The `meta` sampler: a batch plan whose draws follow learnt class weights, and the meta
    step that learns them (`before_step`, called by the loop before each training step)."""

    live = True
    by_group = False

    def __init__(
        self,
        classes: np.ndarray,
        num_classes: int,
        batch_size: int,
        steps: int,
        seed: int,
        stage: Any,
        meta_set: tuple[Any, BatchPlan],
    ):
        """`classes`: the class of every dataset index; `meta_set`: (dataset, class-balanced
        plan) of the meta batches, which the loop turns into `meta_loader`."""
        self.order = np.argsort(classes, kind="stable")
        self.columns = torch.as_tensor(classes[self.order], dtype=torch.int64)
        self.sizes = np.bincount(classes, minlength=num_classes)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.classes, self.num_classes = np.asarray(classes), num_classes
        self.batch_size, self.steps, self.seed, self.epoch = batch_size, steps, seed, 0
        self.logit = torch.nn.Parameter(initial_logits(self.sizes, stage.meta_init_pow))
        self.opt = torch.optim.Adam([self.logit], lr=stage.meta_lr)
        self.meta_set, self.meta_loader, self.device = meta_set, None, torch.device("cpu")
        self.meta_batches: Iterator | None = None
        self.drawn: Draw | None = None

    def __len__(self) -> int:
        return self.steps

    def bind(self, meta_loader: Any, device: str) -> None:
        """The loader of the meta batches, and the device the noise is drawn on (the training
        device: the B x N noise is cheap there; the noise, not the distribution, then depends
        on the device)."""
        self.meta_loader, self.device = meta_loader, torch.device(device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.meta_set[1].set_epoch(epoch)
        self.meta_batches = iter(self.meta_loader) if self.meta_loader is not None else None

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.steps):
            self.drawn = self.draw(step)
            yield self.drawn.indices.tolist()

    def class_frequencies(self, classes: np.ndarray, num_classes: int) -> np.ndarray:
        """The expected share of each class in a batch under the current weights: n_c
        sigmoid(w_c), normalised (the instance-level distribution, summed per class)."""
        rate = self.sizes * torch.sigmoid(self.logit.detach()).double().numpy()
        return rate / rate.sum()

    def draw(self, step: int) -> Draw:
        """A batch from the current weights, with fresh noise seeded by (epoch, step)."""
        dev = self.device
        gen = torch.Generator(dev).manual_seed(seed_hash(self.seed, "meta-draw", self.epoch, step))
        n, rows = len(self.columns), max(1, NOISE_ELEMENTS // len(self.columns))
        columns, parts = self.columns.to(dev), []
        for start in range(0, self.batch_size, rows):
            u = torch.empty(min(rows, self.batch_size - start), n, device=dev)
            u = u.exponential_(generator=gen).clamp_min_(1e-30)
            parts.append(noise_statistics(u, columns, self.num_classes))
        top, mass = (torch.cat(p) for p in zip(*parts, strict=True))
        classes = (F.logsigmoid(self.logit.detach()).to(dev) + top).argmax(1)
        picked = classes.cpu().numpy()
        within = torch.rand(self.batch_size, generator=gen, dtype=torch.float64, device=dev)
        sizes = self.sizes[picked]
        offsets = np.minimum((within.cpu().numpy() * sizes).astype(np.int64), sizes - 1)
        return Draw(self.order[self.starts[picked] + offsets], classes, top, mass)

    def before_step(
        self, model: Any, x: torch.Tensor, y: torch.Tensor, opt: Any, loss_fn: Any, autocast: Any
    ) -> None:
        """The meta step on the batch just drawn (x, y on the device), before it trains."""
        drawn, self.drawn = self.drawn, None
        if drawn is None or not np.array_equal(self.classes[drawn.indices], y.cpu().numpy()):
            raise RuntimeError(
                "meta sampler: the batch about to train is not the one it last drew; its "
                "training loader must draw each batch when it is needed, in this process"
            )
        meta_x, meta_y, _ = next(self.meta_batches)
        meta_x, meta_y = meta_x.to(x.device), meta_y.to(x.device)
        model = getattr(model, "module", model)
        self.meta_step(model, drawn, x, y, meta_x, meta_y, opt, loss_fn, autocast)

    def meta_step(
        self,
        model: Any,
        drawn: Draw,
        x: torch.Tensor,
        y: torch.Tensor,
        meta_x: torch.Tensor,
        meta_y: torch.Tensor,
        opt: torch.optim.Optimizer,
        loss_fn: Any,
        autocast: Any,
    ) -> None:
        """One Adam step of w down the gradient of the meta batch's cross-entropy after one
        differentiable optimiser step of the last layer on the drawn batch (run_networks.py
        meta_forward: higher.innerloop_ctx on the classifier with the model's optimiser)."""
        with torch.no_grad(), autocast:
            features, meta_features = model.features(x).float(), model.features(meta_x).float()
        names = [name for name, _ in model.head.named_parameters()]
        real = [p for _, p in model.head.named_parameters()]
        start = [p.detach().requires_grad_() for p in real]
        soft = drawn_soft(self.logit, drawn).to(features.device)
        weight = 1.0 + soft - soft.detach()  # value 1, the soft sample's gradient
        logits = functional_call(model.head, dict(zip(names, start, strict=True)), (features,))
        values, weights = loss_fn.per_sample(logits * model.scales.detach(), y)
        inner = (values * weight).sum() / weights.sum()
        grads = torch.autograd.grad(inner, start, create_graph=True)
        stepped = differentiable_step(opt, real, start, grads)
        meta_logits = functional_call(
            model.head, dict(zip(names, stepped, strict=True)), (meta_features,)
        )
        outer = F.cross_entropy(meta_logits * model.scales.detach(), meta_y)
        (self.logit.grad,) = torch.autograd.grad(outer, [self.logit])
        self.opt.step()

    def state_dict(self) -> dict[str, Any]:
        return {"logit": self.logit.detach().clone(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.logit.copy_(state["logit"])
        self.opt.load_state_dict(state["opt"])


def differentiable_step(
    opt: torch.optim.Optimizer,
    real: list[torch.Tensor],
    params: list[torch.Tensor],
    grads: tuple[torch.Tensor, ...],
) -> list[torch.Tensor]:
    """`params` after one step of `opt` (SGD or Adam) with `grads`, as a differentiable function
    of them: the optimiser's current LR and state (momentum buffer; moments and step count) of
    the parameters `real` (higher's DifferentiableSGD / DifferentiableAdam, which copy both)."""
    (group,) = opt.param_groups
    out = []
    for p_real, p, g in zip(real, params, grads, strict=True):
        state = opt.state.get(p_real, {})
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if isinstance(opt, torch.optim.SGD):
            out.append(p - group["lr"] * sgd_direction(group, state, g))
        else:
            out.append(p - adam_update(group, state, g))
    return out


def sgd_direction(group: dict[str, Any], state: dict[str, Any], g: torch.Tensor) -> torch.Tensor:
    momentum, buf = group["momentum"], state.get("momentum_buffer")
    if momentum == 0:
        return g
    d = g if buf is None else momentum * buf + (1 - group["dampening"]) * g
    return g + momentum * d if group["nesterov"] else d


def adam_update(group: dict[str, Any], state: dict[str, Any], g: torch.Tensor) -> torch.Tensor:
    beta1, beta2 = group["betas"]
    step = float(state["step"]) + 1 if state else 1.0
    m = beta1 * state["exp_avg"] + (1 - beta1) * g if state else (1 - beta1) * g
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g if state else (1 - beta2) * g * g
    # sqrt has an infinite slope at 0: a zero second moment (a zero gradient) reads as tiny
    root = torch.where(v > 0, v, torch.finfo(v.dtype).tiny).sqrt()
    denom = root / math.sqrt(1 - beta2**step) + group["eps"]
    return group["lr"] / (1 - beta1**step) * m / denom
