"""Hosts the inference service on a node: serves the zoo models' committed weights at once, and swaps in the
char-LM of the best ml-board result when one appears and scores better here (re-trained from its config and
seed off the event loop: a worker thread in CPython, inline between other tasks in a tab;
`services/inference_weights.py`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynode.platform import in_browser
from pynode.runtime.services import ServicesRuntime
from pynode.services.inference import TOKENS_PER_HOP, Inference, LoadedModel
from pynode.services.inference_weights import (
    MODEL_TASKS,
    Source,
    WeightsError,
    baseline,
    best_on_board,
    committed,
    load,
)
from pynode.services.limits import BOARD_CHECK_S

log = logging.getLogger(__name__)


async def offload_model_work(fn: Callable[[], Any]) -> Any:
    """Blocking model work: a thread in CPython (onnxruntime releases the GIL), inline in a tab (no threads)."""
    if in_browser():
        return fn()
    return await asyncio.to_thread(fn)


class InferenceHost:
    def __init__(
        self,
        services: ServicesRuntime,
        replica: Any = None,
        models: Sequence[str] = ("charlm", "digits"),
        follow_board: bool = True,
    ) -> None:
        unknown = [m for m in models if m not in MODEL_TASKS]
        if unknown:
            raise ValueError(f"unknown models {unknown}; known: {sorted(MODEL_TASKS)}")
        self.services = services
        self.replica = replica
        self.model_ids = list(models)
        self.follow_board = follow_board and replica is not None
        self.inference = Inference(
            offload=offload_model_work, tokens_per_hop=1 if in_browser() else TOKENS_PER_HOP
        )
        self.ready = asyncio.Event()
        self.load_s: dict[str, float] = {}  # seconds each model's weights took to derive here
        self.warm = asyncio.Event()  # every served model ran its first forward pass (see _warm_up)
        self.warm_s: dict[str, float] = {}  # seconds each model's first forward pass took
        self._board_key: str | None = None
        self._task: asyncio.Task[None] | None = None
        services.host(self.inference.service())  # before the node starts: the relay hello names it

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        for model_id in self.model_ids:
            t0 = time.monotonic()
            try:
                self._serve(await offload_model_work(lambda: committed(model_id)))  # noqa: B023 (awaited here)
            except WeightsError:  # a checkout without them: derive the same weights here (seconds)
                log.exception("committed weights unusable; training the %s baseline", model_id)
                await self._load(model_id, baseline(model_id))
            except Exception:  # one model that cannot load is not served; the others still are
                log.exception("could not load the %s model: not serving it", model_id)
                continue
            self.load_s[model_id] = round(time.monotonic() - t0, 2)
        self.ready.set()
        await self._warm_up()
        self.warm.set()
        while self.follow_board:
            try:
                await self.check_board()
            except Exception:
                log.exception("could not load the ml board's best char-LM")
            await asyncio.sleep(BOARD_CHECK_S)

    async def _warm_up(self) -> None:
        """One forward pass of each served model, after they are served (in a tab the first pass compiles the
        build's wasm and, on WebGPU, its shaders: seconds, measured in bench/services_tab.py); then the model is
        served again, so what the service advertises is the backend that ran. A request meanwhile waits for its
        model's calls in turn. A model whose pass fails is no longer served."""
        for model_id, model in list(self.inference.models.items()):
            t0 = time.monotonic()
            try:
                await offload_model_work(model.warm_up)
            except Exception:
                log.exception("the %s model failed its first forward pass: not serving it", model_id)
                if self.inference.models.get(model_id) is model:
                    del self.inference.models[model_id]
                    self.services.update(self.inference.service())
                continue
            self.warm_s[model_id] = round(time.monotonic() - t0, 2)
            if self.inference.models.get(model_id) is model:  # not swapped for the board's best meanwhile
                self._serve(model)

    async def check_board(self) -> LoadedModel | None:
        """Serve the best board result's char-LM if it is new and beats the one served now."""
        if "charlm" not in self.model_ids or self.replica is None:
            return None
        source = best_on_board(self.replica.store.all_records("results.ml"))
        if source is None or source.result == self._board_key:
            return None
        self._board_key = source.result
        current = self.inference.models.get("charlm")
        model = await offload_model_work(lambda: load("charlm", source).warm_up())
        known = current is not None and current.val_loss is not None and model.val_loss is not None
        if known and model.val_loss >= current.val_loss:  # type: ignore[union-attr,operator]
            return None  # the board's best scores worse here than what we serve (e.g. a fabricated claim)
        self._serve(model)
        return model

    async def _load(self, model_id: str, source: Source) -> None:
        self._serve(await offload_model_work(lambda: load(model_id, source).warm_up()))

    def _serve(self, model: LoadedModel) -> None:
        self.inference.set_model(model)
        self.services.update(self.inference.service())
        log.info("inference serves %s: %s", model.id, model.source)
