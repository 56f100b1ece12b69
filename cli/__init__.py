"""Command-line interface: ``newsearch index | query | status``."""
