"""The terminal dashboard (Textual). Only this package and cli.py import textual."""
