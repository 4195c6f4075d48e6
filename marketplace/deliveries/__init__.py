"""Delivery of an awarded task: the winner's pull request and its verification on GitHub."""
