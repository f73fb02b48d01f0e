"""dhr_sdk/offline."""
