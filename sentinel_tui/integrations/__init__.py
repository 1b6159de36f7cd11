"""Integrations: actions (webhook, command), their delivery queue, the Prometheus exporter, attach."""
