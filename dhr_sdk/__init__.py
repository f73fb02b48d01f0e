"""dhr-sdk: deep-hash-based, relevance-aware data quality assessment of image collections."""

from dhr_sdk._version import __version__
from dhr_sdk.errors import DhrError, NotFittedError, ParamsError, PluginError, StoreFormatError
from dhr_sdk.hookspecs import hookimpl
from dhr_sdk.interfaces import Assessor, Backbone, GraphBuilder, Hasher, Ranker
from dhr_sdk.params import Params
from dhr_sdk.plugins import get_registry
from dhr_sdk.types import Assessment, FitData, HashGraph, ImportanceList, RankResult

__all__ = [
    "Assessment", "Assessor", "Backbone", "DhrError", "FitData", "GraphBuilder", "HashGraph",
    "Hasher", "ImportanceList", "NotFittedError", "Params", "ParamsError", "PluginError",
    "RankResult", "Ranker", "StoreFormatError", "__version__", "get_registry", "hookimpl",
]
