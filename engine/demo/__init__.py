"""A month of demonstration cases driven through the engine's own commands (`yekuo demo cases`)."""
