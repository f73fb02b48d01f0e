"""dhr-sdk: deep-hash-based, relevance-aware data quality assessment of image collections.

This module is the **plugin API**: everything a plugin needs is importable from here
(``from dhr_sdk import Hasher, Params, FitData, pack_bits, hookimpl``). Plugins import
only this module and :mod:`dhr_sdk.testing`; ``make lint`` checks it (docs/architecture.md).
Importing it never imports torch.
"""

from dhr_sdk._version import __version__
from dhr_sdk.codes.hamming_index import DEFAULT_CHUNK_PAIRS, HammingIndex, group_identical
from dhr_sdk.codes.matching import concat_pairs, distinct_images, match_pairs, row_values
from dhr_sdk.codes.packing import (
    MAX_BITS,
    MIN_BITS,
    check_n_bits,
    check_packed,
    hamming_matrix,
    pack_bits,
    unpack_bits,
)
from dhr_sdk.core.components import connected_components
from dhr_sdk.core.device import resolve_device
from dhr_sdk.core.errors import DhrError, NotFittedError, ParamsError, PluginError, StoreFormatError
from dhr_sdk.core.hookspecs import hookimpl
from dhr_sdk.core.interfaces import (
    Assessor,
    Backbone,
    FitData,
    FitImages,
    GraphBuilder,
    Hasher,
    Plugin,
    Ranker,
)
from dhr_sdk.core.params import HasherParams, Params
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import (
    Assessment,
    HashGraph,
    ImageMatch,
    ImportanceList,
    MatchPairs,
    RankResult,
    WantedEstimate,
)
from dhr_sdk.core.validation import check_features, check_weights
from dhr_sdk.model.ssl_file import SSLBackboneFile, read_ssl_file
from dhr_sdk.model.ssl_net import SSLTransform, build_encoder

__all__ = [
    "DEFAULT_CHUNK_PAIRS",
    "MAX_BITS",
    "MIN_BITS",
    "QUIET",
    "Assessment",
    "Assessor",
    "Backbone",
    "DhrError",
    "FitData",
    "FitImages",
    "GraphBuilder",
    "HammingIndex",
    "HashGraph",
    "Hasher",
    "HasherParams",
    "ImageMatch",
    "ImportanceList",
    "MatchPairs",
    "NotFittedError",
    "Params",
    "ParamsError",
    "Plugin",
    "PluginError",
    "Progress",
    "RankResult",
    "Ranker",
    "SSLBackboneFile",
    "SSLTransform",
    "StoreFormatError",
    "WantedEstimate",
    "__version__",
    "build_encoder",
    "check_features",
    "check_n_bits",
    "check_packed",
    "check_weights",
    "concat_pairs",
    "connected_components",
    "distinct_images",
    "get_registry",
    "group_identical",
    "hamming_matrix",
    "hookimpl",
    "match_pairs",
    "pack_bits",
    "read_ssl_file",
    "resolve_device",
    "row_values",
    "unpack_bits",
]
