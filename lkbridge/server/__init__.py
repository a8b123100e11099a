"""The bridge server: gRPC in -> service -> registry -> session -> tracks -> room, and back."""
