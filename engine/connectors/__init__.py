"""Connectors: data exchange with the other systems of the service centre, on one pattern.

Outbound, a case's step queues a document in the outbox (channel `connector`, recipient the
system) in its own transaction; the outbox delivers it through the system's signed HTTP sink
(`outbound`), with retries, dead letters and redelivery by hand. Inbound, a system's signed call
(`inbound`) is verified, accepted once per message id and handed to the system's handler
(`service_center` for 95598, `marketing` for the 营销系统). `simulator` is a peer for tests and demos.
"""
