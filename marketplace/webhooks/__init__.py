"""Department webhooks: signed POSTs of the events of a department's auctions."""
