"""Runtime settings read from flags or the environment (flags win)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from worldmodel.errors import WallwmError

VLM_URL_ENV = "WALLWM_VLM_URL"
VLM_MODEL_ENV = "WALLWM_VLM_MODEL"
VLM_API_KEY_ENV = "WALLWM_VLM_API_KEY"
VLM_TIMEOUT_ENV = "WALLWM_VLM_TIMEOUT"
VLM_RETRIES_ENV = "WALLWM_VLM_RETRIES"


class SettingsError(WallwmError):
    """A setting from a flag or the environment is not a valid value."""


@dataclass(frozen=True)
class VLMSettings:
    """Where the OpenAI-compatible VLM server is (e.g. `vllm serve` at http://host:8000/v1), and
    how long to wait for it. None: the client's default
    (agent.planning.vlm_client.VLMClientConfig)."""

    url: str | None
    model: str | None
    api_key: str | None
    timeout_s: float | None = None  # a request's whole budget, retries included
    retries: int | None = None  # retries of a request after a transport fault, 429 or 5xx

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> VLMSettings:
        """Flags first, then WALLWM_VLM_URL / _MODEL / _API_KEY / _TIMEOUT / _RETRIES."""
        url = url or os.environ.get(VLM_URL_ENV) or None
        if timeout_s is None and os.environ.get(VLM_TIMEOUT_ENV):
            timeout_s = vlm_timeout(os.environ[VLM_TIMEOUT_ENV], VLM_TIMEOUT_ENV)
        if retries is None and os.environ.get(VLM_RETRIES_ENV):
            retries = vlm_retries(os.environ[VLM_RETRIES_ENV], VLM_RETRIES_ENV)
        return cls(
            url=url.rstrip("/") if url else None,
            model=model or os.environ.get(VLM_MODEL_ENV) or None,
            api_key=api_key or os.environ.get(VLM_API_KEY_ENV) or None,
            timeout_s=timeout_s,
            retries=retries,
        )


def vlm_timeout(text: str, source: str = "--vlm-timeout") -> float:
    """A request budget in seconds: a number from 1 to 3600."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 3600:
        raise SettingsError(f"{source} is {text!r}; expected seconds from 1 to 3600")
    return value


def vlm_retries(text: str, source: str = "--vlm-retries") -> int:
    """Retries of one request: a whole number from 0 to 10."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 10:
        raise SettingsError(f"{source} is {text!r}; expected a whole number from 0 to 10")
    return value
