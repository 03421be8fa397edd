"""Task pipelines, one module per env."""
