"""The plugin passes dhr's conformance suite and behaves like an LSH."""

from pathlib import Path

from dhr_sklsh import SKLSHHasher

from dhr_sdk import hamming_matrix
from dhr_sdk.testing import check_plugin, synthetic_fit_data


def test_conformance(tmp_path: Path) -> None:
    check_plugin(SKLSHHasher, tmp_path)


def test_near_points_get_closer_codes_than_far_points() -> None:
    data = synthetic_fit_data(n=400, d=16, n_classes=4, seed=3)
    hasher = SKLSHHasher(n_bits=128).fit(data)
    codes = hasher.encode(data.features)
    y = data.labels.argmax(1)  # type: ignore[union-attr]
    dist = hamming_matrix(codes, codes)
    same = dist[y[:, None] == y[None, :]].mean()
    other = dist[y[:, None] != y[None, :]].mean()
    assert same < 0.8 * other
