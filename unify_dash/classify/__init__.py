"""Reply classification."""
