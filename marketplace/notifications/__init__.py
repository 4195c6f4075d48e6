"""Consumers of the global event stream: mail notifications and the dead-letter queue."""
