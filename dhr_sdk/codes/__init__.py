"""dhr_sdk/codes."""
