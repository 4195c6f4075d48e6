"""Review of verified deliveries: accept (which creates the payment order) or reject."""
