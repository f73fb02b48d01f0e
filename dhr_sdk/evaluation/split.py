"""The seeded query / database / training split of the retrieval protocol (and its
development variant, which never touches the test queries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from dhr_sdk.core.errors import DhrError

DEFAULT_TRAIN = 5000


@dataclass(frozen=True)
class SplitSpec:
    """Sizes and seed of the query / database / training split (see :func:`split_indices`)."""

    n_queries: int = 1000
    n_database: int | None = None
    n_train: int | None = None
    seed: int = 0
    train_from: Literal["database", "rest"] = "database"
    part: Literal["test", "dev"] = "test"


@dataclass(frozen=True)
class Split:
    """Row indices of each part, in the (seeded random) order they were drawn."""

    query: np.ndarray
    database: np.ndarray
    train: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"n_queries": int(self.query.size), "n_database": int(self.database.size),
                "n_train": int(self.train.size)}


def split_indices(n: int, spec: SplitSpec = SplitSpec()) -> Split:
    """Draw the split of ``n`` images.

    ``n_database=None``: every image that is not a query (with ``train_from="rest"``: the
    images left after a training set of ``n_train``). ``n_train=None``: ``min(5000, pool)``.
    ``part="dev"``: the development split of that test split (:func:`development_split`).
    """
    if spec.train_from not in ("database", "rest"):
        raise DhrError(f"train_from must be 'database' or 'rest', got {spec.train_from!r}")
    if spec.part not in ("test", "dev"):
        raise DhrError(f"part must be 'test' or 'dev', got {spec.part!r}")
    if spec.n_queries < 1 or spec.n_queries >= n:
        raise DhrError(f"{spec.n_queries} queries leave no database among {n} images")
    perm = np.random.default_rng(spec.seed).permutation(n)
    query, rest = perm[:spec.n_queries], perm[spec.n_queries:]
    if spec.train_from == "database":
        n_db = rest.size if spec.n_database is None else spec.n_database
        _check_size("database", n_db, rest.size)
        database = rest[:n_db]
        n_train = min(DEFAULT_TRAIN, n_db) if spec.n_train is None else spec.n_train
        _check_size("training set", n_train, n_db)
        train = database[np.random.default_rng(spec.seed + 1).permutation(n_db)[:n_train]]
    else:
        n_train = min(DEFAULT_TRAIN, rest.size - 1) if spec.n_train is None else spec.n_train
        _check_size("training set", n_train, rest.size - 1)
        train, left = rest[:n_train], rest[n_train:]
        n_db = left.size if spec.n_database is None else spec.n_database
        _check_size("database", n_db, left.size)
        database = left[:n_db]
    test = Split(query, database, train)
    return test if spec.part == "test" else development_split(test, spec.n_queries, spec.seed)


DEV_QUERY_SHARE = 5  # at most 1/5 of the database becomes development queries


def development_split(test: Split, n_queries: int, seed: int) -> Split:
    """A split for choosing settings that never touches the test queries.

    Development queries are drawn (seeded) from the test database rows outside the training
    set, so the training set — and the fitted model — stay those of the test split. When
    there are not enough such rows (the training set is the whole database), the rest come
    from the training rows, which then leave the training set; at most a fifth of the
    database becomes development queries. The development database is the test database
    without the development queries, in the same order.
    """
    rng = np.random.default_rng([seed, 2])
    in_train = np.isin(test.database, test.train)
    outside, inside = test.database[~in_train], test.database[in_train]
    n_dev = min(n_queries, max(outside.size, test.database.size // DEV_QUERY_SHARE))
    if n_dev < 1 or n_dev >= test.database.size:
        raise DhrError(f"a database of {test.database.size} images leaves no development "
                       "queries")
    query = rng.permutation(outside)[:n_dev]
    if query.size < n_dev:
        query = np.concatenate([query, rng.permutation(inside)[:n_dev - query.size]])
    database = test.database[~np.isin(test.database, query)]
    train = test.train[~np.isin(test.train, query)]
    return Split(query, database, train)


def _check_size(what: str, size: int, available: int) -> None:
    if not 1 <= size <= available:
        raise DhrError(f"the {what} needs 1 to {available} images here, got {size}")
