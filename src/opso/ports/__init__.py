"""Ports: the small Protocols through which use-cases reach files, processes and backends."""
