"""The assessment layer: requirements, assessing many stores, ``dhr select``, the report.

The names below are this layer's Python API (``from dhr_sdk.assessment import assess``).
"""

from dhr_sdk.assessment.assess import (
    DEFAULT_ASSESSOR,
    PAPER_ASSESSOR,
    AssessmentReport,
    CollectionResult,
    assess,
    assess_targets,
    make_assessor,
    paper_assessor_for,
)
from dhr_sdk.assessment.requirement import Requirement, load_requirement, load_requirement_codes
from dhr_sdk.assessment.targets import (
    StoreTarget,
    encode_images,
    encode_requirement,
    model_fingerprint,
    open_target,
)

__all__ = ["DEFAULT_ASSESSOR", "PAPER_ASSESSOR", "AssessmentReport", "CollectionResult",
           "Requirement", "StoreTarget", "assess", "assess_targets", "encode_images",
           "encode_requirement", "load_requirement", "load_requirement_codes", "make_assessor",
           "model_fingerprint", "open_target", "paper_assessor_for"]
