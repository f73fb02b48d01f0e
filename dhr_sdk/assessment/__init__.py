"""dhr_sdk/assessment."""
