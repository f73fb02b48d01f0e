"""Built-in hashers: deep methods (NRDH, DSTGeH, LAGNH, GAH) and classic baselines."""
