"""The qgl language server (``qglc lsp``): diagnostics, hover, definitions, references,
completion, outline and formatting for ``.qgl`` files, over the Language Server Protocol."""
