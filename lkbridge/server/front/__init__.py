"""The front (`lkbridge serve --workers K`): one public address composing a gRPC server over a
pool of worker processes, each a bridge of its own."""
