"""plugins/dhr_plugins/hashers/_common."""
