"""The safety layer (public API re-exported once all modules are in)."""
