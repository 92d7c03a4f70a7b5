"""The ``arrears`` command (Typer). Thin: parse, call a service or the core, render."""
