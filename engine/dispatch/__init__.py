"""The dispatch centre: field teams, daily capacity, appointments in three modes, dispatch lists,
arrival and completion reports, call-backs and the works list."""
