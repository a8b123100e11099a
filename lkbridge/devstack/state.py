"""The state directory of one `lkbridge dev` stack: who runs it and where its bridge listens.

A stack holds an exclusive flock on `dev.lock` for its whole life, so a second stack on the same
directory refuses at once, while a crashed one (the kernel drops its lock with the process) never
blocks the next. Client commands only read dev.json and check that its pid is alive; they never
lock, so they cannot get in a starting stack's way. Light on purpose: `lkbridge health` reads it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

INFO_NAME = "dev.json"
LOCK_NAME = "dev.lock"
SOCKET_NAME = "bridge.sock"
FILES_NAME = "files"


def cache_dir() -> Path:
    """Where setup.sh installs livekit-server and grpcurl: outside the clone, kept across runs."""
    base = os.environ.get("LKBRIDGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lkbridge"
    )
    return Path(base)


def state_dir() -> Path:
    """LKBRIDGE_DEV_DIR gives a second stack (or a test run) a directory of its own."""
    explicit = os.environ.get("LKBRIDGE_DEV_DIR")
    return Path(explicit) if explicit else cache_dir() / "dev"


@dataclass(frozen=True)
class DevInfo:
    """What `lkbridge dev` prints and writes to dev.json for the other commands."""

    livekit_url: str
    api_key: str
    api_secret: str
    bridge_tcp: str
    bridge_socket: str
    room: str
    user_id: str
    device_identity: str
    signal: str
    pid: int = 0
    files_dir: str = ""  # a file linked here is served to the bridge at files_url + its name
    files_url: str = ""


def dev_info_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / INFO_NAME


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def read_dev_info(directory: Path | None = None) -> DevInfo | None:
    """dev.json as written, alive or not."""
    try:
        return DevInfo(**json.loads(dev_info_path(directory).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def load_dev_info(directory: Path | None = None) -> DevInfo | None:
    """The running stack's info; None when there is none or it died without cleaning up."""
    info = read_dev_info(directory)
    return info if info is not None and pid_alive(info.pid) else None


class StackRunning(Exception):
    """Another live stack owns the state directory."""

    def __init__(self, directory: Path, pid: int, info: DevInfo | None) -> None:
        where = f"bridge {info.bridge_socket}" if info else "still starting"
        super().__init__(
            f"a dev stack already runs in {directory} (pid {pid}, {where}); stop it, or give "
            f"this one its own directory: LKBRIDGE_DEV_DIR=/tmp/lkb-dev2 lkbridge dev"
        )
        self.pid = pid
        self.info = info


class StateDir:
    """The directory one stack owns while `acquire()` holds its lock."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = directory or state_dir()
        self._fd: int | None = None

    @property
    def socket(self) -> Path:
        return self.path / SOCKET_NAME

    @property
    def files(self) -> Path:
        return self.path / FILES_NAME

    def acquire(self) -> None:
        """Take the directory, or raise StackRunning naming its live owner.

        Whatever a crashed stack left (socket, dev.json, served files) is removed once the lock
        is ours: nobody else can be using it.
        """
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise StackRunning(
                self.path, int(holder) if holder.isdigit() else 0, load_dev_info(self.path)
            ) from None
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._clear()
        self.files.mkdir(mode=0o755)

    def write_info(self, info: DevInfo) -> None:
        path = dev_info_path(self.path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)  # readers never see half a file

    def release(self) -> None:
        if self._fd is None:
            return
        self._clear()
        os.close(self._fd)  # drops the lock
        self._fd = None

    def _clear(self) -> None:
        for name in (INFO_NAME, SOCKET_NAME):
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        shutil.rmtree(self.files, ignore_errors=True)
