"""Data layer: image collections, side files, feature extraction/caching, built-in demo data.

Modules: :mod:`~dhr_sdk.data.collection` (folders or path lists of images, labels/tags),
:mod:`~dhr_sdk.data.sidefiles` (label/tag file formats), :mod:`~dhr_sdk.data.images`
(decoding with explicit failure reasons), :mod:`~dhr_sdk.data.features` (batched,
cached extraction through a backbone plugin), :mod:`~dhr_sdk.datasets.demo` (vendored real
labeled arrays, multi-label canvases) and :mod:`~dhr_sdk.datasets.materialise` (demo folders
shaped like the framework paper's experiments).
"""
