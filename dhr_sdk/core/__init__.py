"""dhr_sdk/core."""
