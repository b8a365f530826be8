"""Time limits counted in Chinese working days: the calendar, rule sets, SLA clocks per step and
per case, pauses for customer time, pre-warnings, overdue notices and supervision (督办)."""
