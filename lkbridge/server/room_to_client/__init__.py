"""Room -> client: data packets and forwarded tracks from the room, queued in the outbox that the
gRPC writer drains."""
