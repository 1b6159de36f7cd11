"""Command-line interfaces: commands, watch, alerts, serve; common.py holds what they share."""
