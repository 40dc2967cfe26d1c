"""The compile stage: name resolution (resolve), then Python code generation (codegen),
and the loaders of data imports (dataimport)."""
