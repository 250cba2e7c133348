"""The torch side of data-parallel training (bench.train.distributed): the global batch's
per-sample losses gathered with their gradients, batch norm over the global batch on the CPU,
and the DistributedDataParallel wrapper."""

from __future__ import annotations

import logging

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger(__name__)


class _Gather(torch.autograd.Function):
    """Every rank's equally long tensor, concatenated in rank order; the gradient of the
    concatenation, summed over ranks, flows back into each rank's own part."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.n = dist.get_rank(), len(x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """The global batch of a per-sample tensor. A loss computed from it on every rank and
    averaged by DDP has exactly the gradient of the single-process loss."""
    return _Gather.apply(x)


class _AllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch (all ranks), for the
    CPU, where torch's SyncBatchNorm refuses to run; in eval mode, or in a world of one, it is
    plain batch norm. Same parameters and buffers (state_dict keys) as nn.BatchNorm*d."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        synced = self.training and dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = _AllReduce.apply(x.new_tensor(float(x.numel() // x.shape[1])))
        mean = _AllReduce.apply(x.sum(dims)) / count
        centred = x - mean.reshape(shape)
        var = _AllReduce.apply((centred * centred).sum(dims)) / count  # two passes: stable
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum
                if m is None:  # cumulative moving average, as nn.BatchNorm does
                    m = 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * unbiased.detach())
        y = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def sync_batchnorm(model: nn.Module, device: str) -> nn.Module:
    """Batch norm over the global batch: torch's SyncBatchNorm on CUDA, GlobalBatchNorm on the
    CPU. Only torch's own BatchNorm classes are converted (a subclass such as timm's
    BatchNormAct2d would lose what it adds); others keep per-rank statistics, with a warning."""
    other = {
        type(m).__name__
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and type(m) not in (*BATCHNORMS, GlobalBatchNorm, nn.SyncBatchNorm)
    }
    if other:
        log.warning(
            "batch norm layers %s are not synchronised across ranks: their statistics are "
            "per-rank (of batch_size / world_size samples)",
            ", ".join(sorted(other)),
        )
    if device.startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return to_global_batchnorm(model)


def to_global_batchnorm(model: nn.Module) -> nn.Module:
    for name, child in model.named_children():
        if type(child) in BATCHNORMS:
            new = GlobalBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine,
                child.track_running_stats,
            )  # fmt: skip
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            new.to(next(iter(child.state_dict().values()), torch.zeros(0)).device)
            setattr(model, name, new)
        else:
            to_global_batchnorm(child)
    return model


def wrap(model: nn.Module, device: str) -> nn.Module:
    """The DDP wrapper for one stage (made after the stage sets what trains: DDP averages the
    gradients of the parameters that require them when it is made)."""

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    # buffers: batch norm statistics are identical on every rank (global-batch statistics)
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)
