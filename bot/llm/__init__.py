"""Chat model adapters: one module per provider, plus the router and contemplating mode."""
