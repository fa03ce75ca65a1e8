"""What a survey is: schema, loader, the pure flow engine, scoring and bundled definitions."""
