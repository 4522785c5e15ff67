"""The full registered classification task as the active-learning model (``--learner task``).

Every round trains the config's task from its start (``model.init_from`` / pretrained weights as the
config says) on the answered patches only, with the run's fit loop (:func:`worldclass.training.fit.train`):
a split file puts the answered patches in ``train``, the archive's validation patches in ``validation``
(model selection) and the unanswered pool plus the evaluation rows in ``test``; a label view carries the
answers (a person's labels replace the archive's). The best checkpoint then scores the ``test`` rows:
probabilities, and for BALD T passes with only the dropout layers in training mode. Runs go to
``RUN/task/round<R>-<answers digest>`` (a finished round with the same answers is reused, so a rerun step
does not train twice).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import nn

from worldclass.errors import ConfigError


def enable_dropout(model: nn.Module) -> int:
    """Dropout on, everything else (BatchNorm) left in eval mode: ``nn.Dropout`` modules and modules that
    apply functional dropout with a ``drop_rate`` attribute (timm heads). Returns how many were switched."""
    n = 0
    for m in model.modules():
        if isinstance(m, nn.Dropout) and m.p > 0:
            m.train()
            n += 1
        elif float(getattr(m, "drop_rate", 0) or 0) > 0 and not isinstance(m, nn.Dropout):
            m.training = True  # only this module's flag: its children (BatchNorm) stay in eval mode
            n += 1
    return n


class TaskLearner:
    """Trains ``config`` (a classification config file, with ``overrides``) on the answered patches."""

    def __init__(self, config: str, overrides: list[str], out: Path, all_ids: dict[str, str]) -> None:
        from worldclass.tasks import load_config

        self.cfg = load_config(config, list(overrides))
        if self.cfg.task != "classification":
            raise ConfigError(
                f"{config}: --learner task needs a classification config (task is {self.cfg.task!r})"
            )
        self.out, self.all_ids = out, all_ids  # all_ids: patch_id -> archive split
        self.scores: dict[str, npt.NDArray[np.float32]] = {}
        self.model: nn.Module | None = None
        self.ds: Any = None
        self.checkpoint: Path | None = None

    def fit(self, answers: dict[str, list[str]], round_: int, seed: int) -> None:
        """Train on ``answers`` (patch_id -> class names) and score every unanswered row."""
        from worldclass.models.checkpoint import model_from_checkpoint, read_checkpoint
        from worldclass.tasks.classification.evaluate import dataset_for, predict_scores
        from worldclass.training.fit import train

        key = hashlib.blake2b(json.dumps(sorted(answers.items())).encode(), digest_size=6).hexdigest()
        run = self.out / f"round{round_}-{key}"  # the same answers reuse a finished round, others train anew
        run.mkdir(parents=True, exist_ok=True)
        ids = list(self.all_ids)
        split = [
            "train" if p in answers else ("validation" if self.all_ids[p] == "validation" else "test")
            for p in ids
        ]
        pq.write_table(pa.table({"patch_id": ids, "split": split}), run / "splits.parquet")
        answered = list(answers)
        column = "labels" if self.cfg.data.num_classes == 19 else "labels43"
        view = {
            "patch_id": answered,
            "split": ["train"] * len(answered),
            column: [answers[p] for p in answered],
        }
        pq.write_table(pa.table(view), run / "answers.parquet")
        v = copy.deepcopy(self.cfg)
        v.data.splits, v.data.labels = str(run / "splits.parquet"), str(run / "answers.parquet")
        v.trainer.out, v.trainer.seed = str(run), seed
        best = run / "checkpoints" / "best.ckpt"
        if not best.is_file():
            best = train(v, overwrite=True).best_checkpoint
        model, meta = model_from_checkpoint(read_checkpoint(best), best)
        meta.config["data"]["splits"], meta.config["data"]["labels"] = v.data.splits, v.data.labels
        self.model, self.checkpoint = model, best
        self.ds = dataset_for(meta, v.data.root, "test")
        _, scores, pids = predict_scores(model, self.ds)  # type: ignore[arg-type]
        self.scores = dict(zip(pids, scores, strict=True))

    def predict(self, ids: list[str]) -> npt.NDArray[np.float32]:
        missing = [p for p in ids if p not in self.scores]
        if missing:
            raise ConfigError(
                f"{len(missing)} pool patches (e.g. {missing[0]}) are not in the config's archive"
            )
        return np.stack([self.scores[p] for p in ids]).astype(np.float32)

    def predict_mc(self, ids: list[str], passes: int, seed: int) -> npt.NDArray[np.float32]:
        """(T, N, C) probabilities with dropout on; refuses a model without dropout."""
        from worldclass.tasks.classification.evaluate import predict_scores

        assert self.model is not None
        self.model.eval()
        if enable_dropout(self.model) == 0:
            raise ConfigError("bald needs dropout in the model: set model.drop_rate > 0 in the task config")
        torch.manual_seed(seed)
        out = []
        for _ in range(passes):
            _, scores, pids = predict_scores(self.model, self.ds)  # type: ignore[arg-type]
            where = {p: i for i, p in enumerate(pids)}
            out.append(scores[[where[p] for p in ids]])
        self.model.eval()
        return np.stack(out).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "task", "checkpoint": str(self.checkpoint)}
