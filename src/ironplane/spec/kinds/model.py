"""Model: an LLM or embedding server run by an inference engine, registered in the AI gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ironplane.spec.base import FieldProblem, Image, Name, Port, SpecModel
from ironplane.spec.fields import Weights
from ironplane.spec.kinds.server import ServerFields


class GatewayRoute(SpecModel):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
        description="model name clients send to the gateway",
    )
    kind: Literal["chat", "completion", "embedding"] = "chat"


class ModelSpec(ServerFields):
    kind: Literal["Model"]
    engine: Literal["vllm", "sglang", "tgi", "custom"]
    model: str = Field(min_length=1, max_length=256, description="model id, e.g. org/name")
    image: Image | None = Field(default=None, description="engine image; a pinned default else")
    port: Port = 8000
    weights: Weights | None = None
    gateway: GatewayRoute | None = None

    @model_validator(mode="after")
    def _engine(self) -> ModelSpec:
        if self.engine == "custom" and (self.image is None or self.command is None):
            raise FieldProblem("engine: custom needs image and command")
        return self

    @property
    def gateway_name(self) -> Name:
        return self.gateway.name if self.gateway else self.name
