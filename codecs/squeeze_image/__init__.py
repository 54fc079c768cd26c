"""FRAPPE-Image: squeeze's lossy learned image codec (codec id ``frappe``); see SPEC.md."""
