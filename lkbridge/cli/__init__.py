"""The `lkbridge` command: a thin typer layer over the server, the client and the devstack."""
