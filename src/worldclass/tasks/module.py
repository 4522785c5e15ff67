"""The LightningModule base of every task: one optimiser recipe, the trained model under ``model``."""

from __future__ import annotations

from typing import Any

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchvision through torchmetrics

import lightning as L  # noqa: E402
import torch  # noqa: E402

from worldclass.data.device import DeviceTransform, pop_native  # noqa: E402
from worldclass.models.checkpoint import ModelMeta  # noqa: E402
from worldclass.models.compiled import compile_in_place  # noqa: E402
from worldclass.tasks.schedule import warmup_cosine  # noqa: E402


def switch(value: str, cuda: bool) -> bool:
    """An ``auto``/``on``/``off`` config switch; ``auto`` is on when the run trains on CUDA."""
    return value == "on" or (value == "auto" and cuda)


def trains_on_cuda(accelerator: str) -> bool:
    """Whether ``trainer.accelerator`` means CUDA devices here."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


class TaskModule(L.LightningModule):
    """Base of every task's LightningModule: hyper-parameters ``config`` (the run config as a dict) and
    ``meta`` (:class:`ModelMeta`, which holds the model spec); the trained ``nn.Module`` is ``self.model``
    (its weights are ``state_dict['model.*']``, what :func:`worldclass.models.load_model` reads)."""

    model: torch.nn.Module
    #: convolutional models that gain from channels_last on CUDA (``trainer.channels_last``)
    channels_last_ok = False

    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__()
        self.meta = ModelMeta.from_dict(meta)
        self.config = config
        self._channels_last = False
        self._compiled = False

    def setup(self, stage: str) -> None:
        """Memory format and ``torch.compile`` of ``model`` (``trainer.channels_last``/``compile``); the
        compiled model keeps its parameter names (:func:`~worldclass.models.compiled.compile_in_place`)."""
        trainer = self.config.get("trainer", {})
        cuda = self.trainer.strategy.root_device.type == "cuda"
        if self.channels_last_ok and switch(trainer.get("channels_last", "auto"), cuda):
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self._channels_last = True
        mode = trainer.get("compile", "off")
        if mode != "off" and not self._compiled:
            compile_in_place(self.model, mode)
            self._compiled = True

    def init_encoder(
        self,
        encoder: torch.nn.Module,
        source: str | None,
        mode: str,
        head: Any = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        """``model.init_from`` / ``init_mode``: copy a self-supervised checkpoint's encoder into
        ``encoder`` (same bands required; ``checkpoint``: its content when already read); ``linear``
        freezes it (weights and BatchNorm statistics) and trains only what follows, ``head`` (a part of
        ``encoder``) included."""
        if source:
            from worldclass.models.ssl import load_encoder, ssl_encoder_state

            state, meta = ssl_encoder_state(source, checkpoint)
            self.meta.check_data(meta.bands, source=source)
            load_encoder(encoder, state, source)
        if mode == "linear":
            encoder.requires_grad_(False)
            if head is not None:
                head.requires_grad_(True)
            self.__dict__["_frozen"] = encoder

    def on_train_epoch_start(self) -> None:
        frozen = self.__dict__.get("_frozen")
        if frozen is not None:  # a linear probe: the encoder's BatchNorm statistics stay those of pretraining
            frozen.eval()

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """The GPU data path: a batch of native band groups becomes ``image`` here, on the device."""
        if not isinstance(batch, dict):
            return batch
        groups = pop_native(batch)
        if groups is not None:
            transform = self.__dict__.get("_device_transform")
            if transform is None:  # kept out of the module tree: not a part of the model or its checkpoint
                transform = DeviceTransform(self.meta.preprocessing).to(self.device)
                self.__dict__["_device_transform"] = transform
            batch["image"] = transform(groups)
        image = batch.get("image")
        if self._channels_last and isinstance(image, torch.Tensor) and image.dim() == 4:
            batch["image"] = image.contiguous(memory_format=torch.channels_last)
        return batch

    def gather_unique(self, index: torch.Tensor, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per-sample rows of every rank, each sample once, ordered by sample ``index`` (N,) int64.

        Under DDP the validation/test sampler repeats samples so that every rank gets as many (Lightning's
        DistributedSampler pads the last shard), and with the training sampler kept (MROS) every rank sees the
        whole validation set: metrics over the gathered rows would count those samples twice. ``values``:
        tensors with N rows. Returns (index, *values) of the unique samples; one process: sorted, unchanged."""
        gi = self.all_gather(index)
        assert isinstance(gi, torch.Tensor)
        flat = gi.reshape(-1)
        gathered = []
        for v in values:
            g = self.all_gather(v)
            assert isinstance(g, torch.Tensor)
            gathered.append(g.reshape(-1, *v.shape[1:]))
        order = torch.argsort(flat, stable=True)
        ordered = flat[order]
        first = torch.ones_like(ordered, dtype=torch.bool)
        first[1:] = ordered[1:] != ordered[:-1]
        keep = order[first]
        return (flat[keep], *(g[keep] for g in gathered))

    def configure_optimizers(self) -> Any:
        return warmup_cosine(self, self.config["optim"])


class PairedSensorModule(TaskModule):
    """Base of the cross-sensor tasks (``csmae``, ``sscm``) on batches of co-located pairs whose channels
    are the S2 bands, then VV, VH (``model.channels["s2"]`` of them are S2). Subclasses define ``_loss``
    (total, named terms); training logs ``train/loss`` and every term."""

    def _split(self, x: torch.Tensor, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(S2 channels, S1 channels); ``augment``: one random D4 transform for both modalities."""
        if augment:
            k = int(torch.randint(0, 4, ()).item())
            x = torch.rot90(x, k, (2, 3))
            if torch.rand(()) < 0.5:
                x = x.flip(3)
        n_s2 = int(self.model.channels["s2"])  # type: ignore[index]
        return x[:, :n_s2], x[:, n_s2:]

    def _loss(self, batch: dict[str, Any], augment: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, terms = self._loss(batch, augment=True)
        n = len(batch["image"])
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for k, v in terms.items():
            self.log(f"train/{k}", v, batch_size=n)
        return loss

    def pair_top1(self, x: torch.Tensor) -> torch.Tensor:
        """Share of the batch's S1 patches whose nearest S2 embedding is their own pair (label-free check
        that the two sensors share one space)."""
        s2, s1 = self._split(x, augment=False)
        m: Any = self.model
        e2 = torch.nn.functional.normalize(m.embed(s2, "s2"), dim=-1)
        e1 = torch.nn.functional.normalize(m.embed(s1, "s1"), dim=-1)
        return ((e1 @ e2.T).argmax(1) == torch.arange(len(e1), device=e1.device)).float().mean()
