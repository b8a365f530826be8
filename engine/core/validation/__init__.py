"""Deploy-time checks of a bundle; `bundle.parse_bundle` is the entry point and ties the others together."""
