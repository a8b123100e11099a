"""The package's floors, read from the source: each module imports only its own floor and those
below it (docs/architecture.md), so the rule cannot rot one convenient import at a time.

Every import counts, the lazy ones inside functions and those under TYPE_CHECKING too: a lazy
import still ties the lower floor to the higher one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import lkbridge

PACKAGE = Path(lkbridge.__file__).parent

# the longest matching prefix decides a module's floor
FLOORS = {
    "lkbridge": 1,  # the package itself: its version
    "lkbridge._proto": 1,
    "lkbridge.errors": 1,
    "lkbridge.audio": 1,
    "lkbridge.procs": 1,
    "lkbridge.tokens": 1,
    "lkbridge.wire": 1,
    "lkbridge.text": 1,
    "lkbridge.server": 2,
    "lkbridge.server.rtc.runtime": 2,
    "lkbridge.client": 2,
    "lkbridge.devstack": 3,
    "lkbridge.loadtest": 3,
    "lkbridge.tui": 3,
    "lkbridge.cli": 4,
    "lkbridge.__main__": 4,
}

# the server's own floors, the same rule one level down: each audio path reads one way down,
# gRPC -> session -> the paths into and out of the room -> the SDK adapter and the base
# (docs/architecture.md, "The server's floors")
SERVER_FLOORS = {
    "lkbridge.server": 1,  # base: config, defaults, eventloop, logs, redact, stalls
    "lkbridge.server.policy": 1,  # which addresses and URLs may be dialled; config carries it
    "lkbridge.server.rtc": 2,  # the SDK adapter: runtime corrections, tracks out and in
    "lkbridge.server.room_to_client": 3,  # room events and tracks into the outbox
    "lkbridge.server.playback": 3,  # URL -> download -> decode -> a published track
    "lkbridge.server.session": 4,  # one user's room, composing the paths below
    "lkbridge.server.grpc": 5,  # the service, its server, auth, health, admin, metrics
    "lkbridge.server.front": 6,  # a gRPC server relaying to worker processes
    "lkbridge.server.runner": 7,
    "lkbridge.server.__main__": 7,
}

# the CLI commands a cloud operator runs against a bridge: no server, no room, no WebRTC
CLIENT_SIDE = (
    "lkbridge.client",
    "lkbridge.cli.probe",
    "lkbridge.cli.calls",
    "lkbridge.cli.common",
    "lkbridge.cli.status",
    "lkbridge.cli.sessions",
    "lkbridge.cli.playing",
    "lkbridge.cli.streaming",
    "lkbridge.cli.audio",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(), str(path))
        for path in PACKAGE.rglob("*.py")
        if "_proto" not in path.parts
    }


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").exists()


def imports(tree: ast.Module) -> Iterator[str]:
    """Every module `tree` imports; `from x import y` names x, and x.y when y is a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, "relative imports would be misread here"
            yield node.module
            for alias in node.names:
                if is_module(name := f"{node.module}.{alias.name}"):
                    yield name


def floor_of(name: str, floors: dict[str, int] = FLOORS) -> int:
    best = max((p for p in floors if name == p or name.startswith(p + ".")), key=len)
    return floors[best]


def ours(name: str) -> bool:
    return name == "lkbridge" or name.startswith("lkbridge.")


def graph() -> dict[str, set[str]]:
    return {name: {m for m in imports(tree) if ours(m)} for name, tree in modules().items()}


def test_the_graph_is_read() -> None:
    """So the rules below cannot pass on an empty graph."""
    deps = graph()
    assert "lkbridge.server.session.session" in deps["lkbridge.server.grpc.service"]
    assert "lkbridge.audio.pcm" in deps["lkbridge.audio.resample"]


def test_no_module_imports_a_higher_floor() -> None:
    wrong = [
        f"{name} (floor {floor_of(name)}) imports {dep} (floor {floor_of(dep)})"
        for name, deps in graph().items()
        for dep in sorted(deps)
        if floor_of(dep) > floor_of(name)
    ]
    assert wrong == []


def test_no_server_module_imports_a_higher_server_floor() -> None:
    def floor(name: str) -> int:
        return floor_of(name, SERVER_FLOORS)

    wrong = [
        f"{name} (floor {floor(name)}) imports {dep} (floor {floor(dep)})"
        for name, deps in graph().items()
        if name.startswith("lkbridge.server")
        for dep in sorted(deps)
        if dep.startswith("lkbridge.server") and floor(dep) > floor(name)
    ]
    assert wrong == []


def test_every_server_module_is_on_a_named_floor() -> None:
    """A new sub-package gets a floor of its own here, not the base's by default."""
    packages = {p for p in SERVER_FLOORS if p != "lkbridge.server"}
    unplaced = [
        name
        for name in graph()
        if name.startswith("lkbridge.server.")
        and name.count(".") > 2
        and not any(name == p or name.startswith(p + ".") for p in packages)
    ]
    assert unplaced == []


def test_the_room_paths_meet_only_above_them() -> None:
    """room -> client never reaches the output tracks or playback, and neither reaches back into
    it; both stand on the SDK adapter below them (rtc/runtime.py, rtc/remote_audio.py)."""
    sides = (
        "lkbridge.server.room_to_client",
        ("lkbridge.server.rtc.tracks", "lkbridge.server.playback"),
    )
    crossing = [
        (name, dep)
        for name, deps in graph().items()
        for dep in sorted(deps)
        if (name.startswith(sides[0]) and dep.startswith(sides[1]))
        or (name.startswith(sides[1]) and dep.startswith(sides[0]))
    ]
    assert crossing == []


def imports_of(package: str) -> list[tuple[str, str]]:
    """(module, dependency) for every import of ours made by the modules of `package`."""
    return [
        (name, dep)
        for name, deps in graph().items()
        if name.startswith(package)
        for dep in sorted(deps)
    ]


# what the lab (floor 3) may take of the server: the entry points that run a whole bridge and the
# SDK adapter the simulated device shares, never the inside of a path or a session
SERVER_FOR_THE_LAB = (
    "lkbridge.server.config",
    "lkbridge.server.grpc.server",
    "lkbridge.server.rtc.runtime",
    "lkbridge.server.rtc.remote_audio",
)


def test_the_lab_reaches_the_server_only_by_its_entry_points_and_sdk_adapter() -> None:
    lab = [
        i
        for package in ("lkbridge.devstack", "lkbridge.loadtest", "lkbridge.tui")
        for i in imports_of(package)
        if i[1].startswith("lkbridge.server")
    ]
    assert lab, "the simulated device reads its tracks through the adapter"
    assert [i for i in lab if i[1] not in ("lkbridge.server", *SERVER_FOR_THE_LAB)] == []


def test_the_front_composes_a_serving_and_holds_no_sessions() -> None:
    """FrontServer holds a `Serving` (grpc/serving.py), not a BridgeServer and its registry."""
    front = {dep for _, dep in imports_of("lkbridge.server.front")}
    assert "lkbridge.server.grpc.serving" in front
    held = ("lkbridge.server.grpc.server", "lkbridge.server.session.registry")
    assert sorted(front.intersection(held)) == []


def test_audio_imports_nothing_of_ours_but_errors() -> None:
    allowed = ("lkbridge.audio", "lkbridge.errors")
    assert [i for i in imports_of("lkbridge.audio") if not i[1].startswith(allowed)] == []


def test_the_server_imports_neither_the_client_nor_anything_above() -> None:
    above = ("lkbridge.client", "lkbridge.cli", "lkbridge.devstack", "lkbridge.tui")
    assert [i for i in imports_of("lkbridge.server") if i[1].startswith(above)] == []


def test_the_client_side_reaches_neither_the_server_nor_the_sdk() -> None:
    """Followed through every module it imports, lazily or not."""
    trees = modules()
    seen: set[str] = set()
    todo = list(CLIENT_SIDE)
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in trees:
            continue
        seen.add(name)
        for dep in imports(trees[name]):
            reached.add(dep)
            if ours(dep):
                todo.append(dep)
    forbidden = (
        "lkbridge.server",
        "lkbridge.server.rtc.runtime",
        "lkbridge.devstack.stack",
        "livekit.rtc",
    )
    assert sorted(m for m in reached if m.startswith(forbidden)) == []


def test_no_import_circle() -> None:
    deps = graph()
    trees = set(deps)

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(deps.get(name, ())):
            if dep in trees and dep != name and not name.startswith(dep + "."):
                visit(dep, [*path, name])
        done.add(name)

    done: set[str] = set()
    for name in sorted(deps):
        visit(name, [])


# below the gRPC floor a session and its paths say why in their own terms (lkbridge.errors, the
# session's StreamEnd); grpc/status.py alone turns that into a status (docs/architecture.md)
GRPC_FREE = (
    "lkbridge.server.session",
    "lkbridge.server.room_to_client",
    "lkbridge.server.playback",
    "lkbridge.server.rtc",
)


def grpc_imports(package: str) -> list[tuple[str, str]]:
    """(module, grpc module) for every import of grpc or its add-ons made in `package`."""
    return [
        (name, dep)
        for name, tree in modules().items()
        if name == package or name.startswith(package + ".")
        for dep in sorted(set(imports(tree)))
        if dep.split(".")[0] == "grpc" or dep.startswith("grpc_")
    ]


def test_below_the_grpc_floor_nothing_imports_grpc() -> None:
    assert ("lkbridge.server.grpc.status", "grpc") in grpc_imports("lkbridge.server.grpc")
    assert [i for package in GRPC_FREE for i in grpc_imports(package)] == []
