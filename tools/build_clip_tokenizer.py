"""Build the CLIP tokenizer folder that ships with sdserve, from open_clip's BPE merges.

Stable Diffusion's text encoders use OpenAI CLIP's byte-level BPE. Its merges
ship in the `open-clip-torch` wheel (`open_clip/bpe_simple_vocab_16e6.txt.gz`);
the vocabulary is derived from them the way CLIP's own tokenizer does: the 256
byte characters, the same with the end-of-word marker, every merge, then the
two special tokens (49408 entries). The result is a folder that
`transformers.CLIPTokenizer.from_pretrained(path)` loads with no network.

    pip download --no-deps open-clip-torch -d /tmp/oc
    python tools/build_clip_tokenizer.py --wheel /tmp/oc/open_clip_torch-*.whl \
        --out src/sdserve/engine/configs/clip_tokenizer
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
from pathlib import Path

BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
# CLIP keeps the first 49152 - 256 - 2 merges (after the file's header line).
MERGE_COUNT = 49152 - 256 - 2
START, END = "<|startoftext|>", "<|endoftext|>"
VOCAB_SIZE = 49408
MAX_LENGTH = 77


def byte_characters() -> list[str]:
    """The printable character GPT-2/CLIP BPE uses for each of the 256 bytes, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    # CLIP orders the vocabulary printable bytes first, then the remapped ones.
    return [chars[b] for b in printable] + [chars[b] for b in range(256) if b not in printable]


def read_merges(wheel: Path) -> list[tuple[str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        text = gzip.decompress(archive.read(BPE_MEMBER)).decode("utf-8")
    lines = text.split("\n")[1 : MERGE_COUNT + 1]
    return [tuple(line.split()) for line in lines]  # type: ignore[misc]


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    chars = byte_characters()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + [START, END]
    if len(tokens) != VOCAB_SIZE:
        raise SystemExit(f"expected {VOCAB_SIZE} tokens, built {len(tokens)}")
    return {token: index for index, token in enumerate(tokens)}


def write_folder(out: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (out / "merges.txt").write_text(merges_text, encoding="utf-8")
    special = {"bos_token": START, "eos_token": END, "unk_token": END, "pad_token": END}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    config = {
        **special,
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="open-clip-torch wheel")
    parser.add_argument("--out", type=Path, required=True, help="tokenizer folder to write")
    args = parser.parse_args()
    merges = read_merges(args.wheel)
    write_folder(args.out, build_vocab(merges), merges)


if __name__ == "__main__":
    main()
