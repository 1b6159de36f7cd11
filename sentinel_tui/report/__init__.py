"""Reports: JSON (machine), Rich text (terminal) and Markdown."""
