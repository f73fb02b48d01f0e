"""dhr_sdk/model."""
