import mmaction.visualization  # noqa: F401  (fills the parent registries)
