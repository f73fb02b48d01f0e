"""Built-in rankers: SHR (one node per image) and CPR (one node per distinct code)."""
