"""Each model's spec without torch: its config section, how it prepares a config, its hooks, and a lazy reference
to its training task (the network file beside ``specs/``, imported only when a run is built)."""
