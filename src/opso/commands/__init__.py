"""CLI commands, one module per topic; ``opso.cli`` assembles them."""
