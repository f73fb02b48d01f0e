"""dhr_sdk/evaluation."""
