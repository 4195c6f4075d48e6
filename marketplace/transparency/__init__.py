"""Transparency: award notices, platform metrics, department spend, Prometheus metrics."""
