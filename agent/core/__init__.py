"""possync terminal agent."""
