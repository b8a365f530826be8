"""Applications coming in: O2O channel intake, application and archive numbers, uploaded documents."""
