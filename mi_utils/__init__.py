"""mi_utils."""
