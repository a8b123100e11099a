"""The gRPC side: the LiveKitBridge service and its server, auth, health, admin and metrics; the
gRPC ends of both audio paths (ingest for client -> room, stream_writer for room -> client)."""
