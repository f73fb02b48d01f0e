"""HDF5 persistence: the only package of the SDK that touches HDF5 files."""

from dhr_sdk.store.atomic import staged
from dhr_sdk.store.elements import CodesRecord, CollectionRecord, FeaturesRecord, ModelRecord
from dhr_sdk.store.errors import StoreDamagedError, StoreWriteError
from dhr_sdk.store.format import FORMAT_NAME, FORMAT_VERSION, Provenance
from dhr_sdk.store.store import ELEMENTS, Store, StoreWriter

__all__ = [
    "ELEMENTS", "FORMAT_NAME", "FORMAT_VERSION", "CodesRecord", "CollectionRecord",
    "FeaturesRecord", "ModelRecord", "Provenance", "Store", "StoreDamagedError",
    "StoreWriteError", "StoreWriter", "staged",
]
