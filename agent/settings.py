"""Runtime settings read from flags or the environment (flags win)."""

from __future__ import annotations

import os
from dataclasses import dataclass

VLM_URL_ENV = "WALLWM_VLM_URL"
VLM_MODEL_ENV = "WALLWM_VLM_MODEL"
VLM_API_KEY_ENV = "WALLWM_VLM_API_KEY"


@dataclass(frozen=True)
class VLMSettings:
    """Where the OpenAI-compatible VLM server is (e.g. `vllm serve` at http://host:8000/v1)."""

    url: str | None
    model: str | None
    api_key: str | None

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @classmethod
    def resolve(
        cls, url: str | None = None, model: str | None = None, api_key: str | None = None
    ) -> VLMSettings:
        """Flags first, then WALLWM_VLM_URL / WALLWM_VLM_MODEL / WALLWM_VLM_API_KEY."""
        url = url or os.environ.get(VLM_URL_ENV) or None
        return cls(
            url=url.rstrip("/") if url else None,
            model=model or os.environ.get(VLM_MODEL_ENV) or None,
            api_key=api_key or os.environ.get(VLM_API_KEY_ENV) or None,
        )
