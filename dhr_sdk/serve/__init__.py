"""``dhr serve``: a resident process that answers requirements in milliseconds.

Stores, hash models, importance lists and their Hamming indexes are loaded once and stay
in memory; each request only encodes the requirement and searches the indexes. The web
framework (FastAPI, uvicorn) is the ``serve`` install extra and is imported only by
:mod:`dhr_sdk.serve.app`, never when ``dhr`` starts. The HTTP contract is docs/serve.md.
"""
