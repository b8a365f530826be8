"""The dispatch centre: field teams, daily capacity, appointments in three modes, dispatch lists,
arrival and completion reports, call-backs, the works list, the customer manager's notices and the
after-sales follow-up of finished cases."""
