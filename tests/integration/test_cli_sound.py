"""`lkbridge stream --mic` and `--speaker` with a real PortAudio device: a PulseAudio null sink.

The sink's monitor is the default source, so what is played into the sink is what the
"microphone" hears, and what the CLI plays on the "speakers" can be recorded from the monitor.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import numpy as np
import pytest

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import dominant_frequency, loud_part, tone
from lkbridge.cli.main import app
from tests.conftest import BridgeEnv, DeviceFactory
from tests.helpers import wait_for
from tests.support.cli import runner


@pytest.fixture(scope="module")
def pulse_sink() -> Iterator[dict[str, str]]:
    if shutil.which("pulseaudio") is None:
        pytest.fail("pulseaudio is missing: scripts/setup.sh installs it", pytrace=False)
    runtime = tempfile.mkdtemp(prefix="lkb-pulse-")
    os.chmod(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime, PULSE_RUNTIME_PATH=f"{runtime}/pulse")
    subprocess.run(
        ["pulseaudio", "-D", "--exit-idle-time=-1", "--system=false", "--disallow-exit", "-n",
         "--load=module-native-protocol-unix",
         "--load=module-null-sink sink_name=virt rate=48000",
         "--load=module-always-sink"],
        env=env, check=True, capture_output=True, timeout=20,
    )  # fmt: skip
    for args in (["set-default-sink", "virt"], ["set-default-source", "virt.monitor"]):
        subprocess.run(["pactl", *args], env=env, check=True, timeout=10)
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    try:
        yield env
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=10)
        if old is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = old
        shutil.rmtree(runtime, ignore_errors=True)


async def test_mic_reaches_the_device(
    pulse_sink: dict[str, str], bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("mic-user", room_name)
    player = subprocess.Popen(
        ["pacat", "--device=virt", "--format=s16le", "--rate=16000", "--channels=1",
         "--latency-msec=50"],
        stdin=subprocess.PIPE, env=pulse_sink,
    )  # fmt: skip
    assert player.stdin is not None
    player.stdin.write(to_bytes(tone(523, 6.0, 16000, amplitude=0.4)))
    player.stdin.flush()
    result = await asyncio.to_thread(
        runner.invoke, app,
        ["stream", "mic-user", "--mic", "--input-device", "pulse", "--duration", "3",
         "--bridge", bridge.target, "--json"],
    )  # fmt: skip
    player.kill()
    assert result.exit_code == 0, result.output
    heard = loud_part((await device.wait_for_track("speaker")).samples(), 16000, threshold=300)
    assert len(heard) > 8000
    assert dominant_frequency(heard, 16000) == pytest.approx(523, abs=3)


async def test_room_audio_on_the_speakers(
    pulse_sink: dict[str, str], bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("spk-user", room_name)
    recorder = subprocess.Popen(
        ["parec", "--device=virt.monitor", "--format=s16le", "--rate=16000", "--channels=1"],
        stdout=subprocess.PIPE, env=pulse_sink,
    )  # fmt: skip
    cli = asyncio.create_task(
        asyncio.to_thread(
            runner.invoke,
            app,
            [
                "stream",
                "spk-user",
                "--speaker",
                "--output-device",
                "pulse",
                "--duration",
                "4",
                "--bridge",
                bridge.target,
            ],
        )
    )

    async def streaming() -> bool:
        listed = await bridge.client.list_sessions()
        return any(s.user_id == "spk-user" and s.stream_open for s in listed)

    await wait_for(streaming, 15, "the CLI's stream to be open at the bridge")
    await device.send_packets(tone(784, 2.5, 16000, amplitude=0.4), chunk_ms=100)
    result = await cli  # it plays for 4 s: the 2.5 s tone was played out a second before
    recorder.terminate()
    captured, _ = recorder.communicate(timeout=10)
    assert result.exit_code == 0, result.output
    samples = np.frombuffer(captured[: len(captured) // 2 * 2], dtype=np.int16)
    heard = loud_part(samples, 16000, threshold=300)
    assert len(heard) > 8000, f"recorded {len(samples)} samples, {len(heard)} loud"
    assert dominant_frequency(heard, 16000) == pytest.approx(784, abs=3)


async def test_no_such_audio_device_is_one_line(
    pulse_sink: dict[str, str], bridge: BridgeEnv, room_name: str
) -> None:
    await bridge.join("nodev", room_name)
    listed = await asyncio.to_thread(runner.invoke, app, ["stream", "x", "--list-devices"])
    assert listed.exit_code == 0 and "pulse" in listed.stdout
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["stream", "nodev", "--mic", "--input-device", "no-such-mic", "--duration", "1",
         "--bridge", bridge.target],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no audio input device:")
    assert "Traceback" not in result.output
