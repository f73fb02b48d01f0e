"""Modules of ``benchmarks/resource_allocation.py``, the assessment-calibration benchmark."""
