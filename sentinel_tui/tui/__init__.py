"""The terminal dashboard (Textual). Only this package and cli/serve.py import textual."""
