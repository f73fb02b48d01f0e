"""plugins/dhr_plugins/graphs."""
