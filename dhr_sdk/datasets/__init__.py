"""dhr_sdk/datasets."""
