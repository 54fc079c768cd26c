"""squeeze's text codec: bitwise context mixing on the shared CM engine (see SPEC.md)."""
