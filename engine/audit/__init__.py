"""What auditors and managers read: hash-chain verification and anchors, replay and time travel,
the diagram path of a case, and the service KPIs."""
