"""Applications coming in: O2O channel intake, applied capacity (kW/kVA), application and archive
numbers, uploaded documents."""
