"""An NDIF model actor that serves from the CPU, for a self-hosted NDIF server without a GPU.

NDIF's stock actor loads a model onto a GPU and synchronises CUDA after every move. This
subclass changes only how the weights are placed and freed; request execution, status
updates and result publishing stay NDIF's own code, so a test against it exercises the real
server. The NDIF controller loads it by import path (NDIF_MODEL_IMPORT_PATH), which is why it
imports NDIF's packages: it runs inside the server's environment, never in nnvalues' own.
"""

from __future__ import annotations

import gc
import ray
import torch
from ndif.services.ray.deployments.modeling.base import (
    KILL_REASON_PREEMPTED,
    BaseModelDeployment,
)
from nnsight.modeling.huggingface import HuggingFaceModel


class CpuModelDeployment(BaseModelDeployment):
    """Weights live in host memory; "parking" a replica only marks it as parked."""

    def load_from_disk(self) -> HuggingFaceModel:
        torch.set_num_threads(1)  # the test machines have two shared cores
        model = HuggingFaceModel.from_model_key(
            self.model_key, dispatch=True, dtype=self.dtype_name, device="cpu", **self.kwargs
        )
        model._module.requires_grad_(False)
        return model

    async def to_cache(self) -> None:
        await self.cancel(KILL_REASON_PREEMPTED)
        self.cached = True

    def from_cache(self, gpu_mem_bytes_by_id: dict[int, int]) -> None:
        self.gpu_mem_bytes_by_id = gpu_mem_bytes_by_id
        self.cached = False

    def cleanup(self) -> None:
        self.kill_switch.clear()
        self.kill_reason = None
        self.execution_ident = None
        self.model.interleaver.cancel()
        gc.collect()


@ray.remote(num_cpus=1, max_restarts=-1)
class CpuModelActor(CpuModelDeployment):
    """The actor class the controller deploys (NDIF_MODEL_IMPORT_PATH points here)."""
