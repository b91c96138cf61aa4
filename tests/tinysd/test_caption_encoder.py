"""The text encoder learns to carry each caption's parts in its pad tokens."""

import math

import torch

from sdserve.tinysd import architecture
from sdserve.tinysd.budget import Budget, steps
from sdserve.tinysd.caption_encoder import (
    PART_CLASSES,
    caption_parts,
    parts_loss,
    token_ids,
    train_caption_encoder,
)
from sdserve.tinysd.dataset import parse_caption


def test_parts_name_every_class_of_the_grammar():
    one = caption_parts(parse_caption("a large red circle at the top left on a white background"))
    two = caption_parts(parse_caption("a red circle and a blue square on a black background"))
    assert len(one) == len(two) == len(PART_CLASSES)
    assert all(0 <= part < classes for part, classes in zip(one, PART_CLASSES, strict=True))
    assert one[0] == two[0]  # both red
    assert one[5:] == (0, 0)  # no second object
    assert two[5:] != (0, 0)
    assert one[2] != two[2]  # white and black backgrounds differ


def test_every_caption_differs_in_some_part():
    texts = [
        "a red circle on a white background",
        "a red square on a white background",
        "a blue circle on a white background",
        "a red circle on a black background",
        "a small red circle on a white background",
        "a red circle on the left on a white background",
    ]
    parts = [caption_parts(parse_caption(t)) for t in texts]
    assert len(set(parts)) == len(texts)


def test_the_loss_reads_only_tokens_that_saw_the_whole_caption():
    tok = architecture.tokenizer()
    ids = token_ids(tok, ["a red circle on a white background"])
    parts = torch.tensor([caption_parts(parse_caption("a red circle on a white background"))])
    head = torch.nn.Linear(4, sum(PART_CLASSES))
    hidden = torch.zeros(1, ids.shape[1], 4, requires_grad=True)
    parts_loss(hidden, ids, parts, head, tok.eos_token_id).backward()
    end = int((ids[0] == tok.eos_token_id).nonzero()[0])
    touched = hidden.grad[0].abs().sum(-1) > 0
    assert not touched[:end].any() and touched[end:].all()


def test_a_short_run_lowers_the_loss_and_freezes_the_encoder():
    torch.manual_seed(0)
    encoder, tok = architecture.text_encoder(), architecture.tokenizer()
    losses = []
    last = train_caption_encoder(encoder, tok, steps(Budget(math.inf, 30)), losses.append)
    first = float(losses[0].rsplit(" ", 1)[1])
    assert last < first / 2
    assert not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
