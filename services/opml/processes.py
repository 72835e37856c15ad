"""Stopping a child process the one way every wrapper here does it (Anvil, the MQTT broker, the daemons):
terminate, wait up to a grace period, then kill and reap."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, grace: float = 5.0) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL and wait. False (and nothing sent) when the process had
    already exited."""
    if process.poll() is not None:
        return False
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return True
