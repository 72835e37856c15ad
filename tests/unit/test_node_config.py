"""Node configuration: TOML + OPML_* environment, one clear error for a bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.logs import configure
from opml.node.config import ConfigError, load_config
from opml.node.process import write_config
from opml.paths import REPO_ROOT


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    path = tmp_path / "local.json"
    path.write_text("{}")
    return path


def test_file_values_load_and_environment_overrides(tmp_path: Path, deployment: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path / "node.toml", private_key=DEV_PRIVATE_KEYS[2], deployment=str(deployment),
                        poll_interval_s=0.5, models=[1, 2], broker_url="mqtt://broker:1884")
    monkeypatch.setenv("OPML_POLL_INTERVAL_S", "2.5")
    monkeypatch.setenv("OPML_MODELS", "[3]")
    config = load_config(path)
    assert config.poll_interval_s == 2.5 and config.models == [3]
    assert config.key == DEV_PRIVATE_KEYS[2]
    assert config.broker == ("broker", 1884)
    assert DEV_PRIVATE_KEYS[2] not in repr(config)  # the key never shows in logs or tracebacks


def test_private_key_from_environment_only(tmp_path: Path, deployment: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path / "node.toml", deployment=str(deployment))
    monkeypatch.setenv("OPML_PRIVATE_KEY", DEV_PRIVATE_KEYS[3])
    assert load_config(path).key == DEV_PRIVATE_KEYS[3]


def test_every_problem_is_named_in_one_error(tmp_path: Path, deployment: Path) -> None:
    path = write_config(tmp_path / "bad.toml", private_key="0x1234", rpc_url="ftp://x", deployment=str(deployment),
                        poll_interval_s=0, broker_url="http://not-mqtt", colour="blue")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    for expected in ("private_key: must be 32 bytes", "rpc_url: must be an http(s) URL", "poll_interval_s",
                     "broker_url: must be an MQTT URL", "colour: unknown key", str(path)):
        assert expected in message, message


def test_missing_key_says_how_to_set_it(tmp_path: Path, deployment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPML_PRIVATE_KEY", raising=False)
    path = write_config(tmp_path / "node.toml", deployment=str(deployment))
    with pytest.raises(ConfigError, match="private_key: missing .*OPML_PRIVATE_KEY"):
        load_config(path)


def test_missing_deployment_and_bad_toml_are_clear(tmp_path: Path) -> None:
    path = write_config(tmp_path / "node.toml", private_key=DEV_PRIVATE_KEYS[2], deployment=str(tmp_path / "no.json"))
    with pytest.raises(ConfigError, match="devnet up"):
        load_config(path)
    broken = tmp_path / "broken.toml"
    broken.write_text("rpc_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize("name", ["submitter", "challenger"])
def test_example_configs_are_valid(name: str, deployment: Path) -> None:
    config = load_config(REPO_ROOT / "config" / f"{name}.toml", deployment=deployment)
    assert config.node_name == f"{name}-1" and config.broker_url and config.metrics_port
    assert config.cache_dir.is_relative_to(REPO_ROOT / "deploy" / "local")  # gitignored runtime files


def test_cli_reports_a_bad_config_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opml.cli import main

    path = write_config(tmp_path / "bad.toml", private_key="nope", deployment=str(tmp_path / "absent.json"))
    assert main(["challenger", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("opml challenger: bad node configuration") and "private_key" in err and "deployment" in err


def test_log_formats(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    try:
        _check_formats(capsys)
    finally:
        structlog.reset_defaults()


def _check_formats(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import sys

    import structlog

    configure("json", "info", sys.stdout)
    structlog.get_logger("t").info("move_sent", game=3, root=b"\x01\x02")
    structlog.get_logger("t").debug("hidden")
    line = capsys.readouterr().out.strip()
    event = json.loads(line)
    assert event["event"] == "move_sent" and event["game"] == 3 and event["root"] == "0x0102"
    configure("console", "debug", sys.stdout)
    structlog.get_logger("t").debug("shown", game=4)
    assert "shown" in capsys.readouterr().out
    with pytest.raises(ValueError, match="log format"):
        configure("xml")


def test_default_log_stream_is_the_stdout_of_each_write(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import json
    import sys

    import structlog

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    configure("json", "info")
    structlog.get_logger("t").info("before_swap")
    first.close()  # what a test runner does with the capture of a finished test
    monkeypatch.setattr(sys, "stdout", second)
    structlog.get_logger("t").info("after_swap")
    assert [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["after_swap"]


def test_cli_reports_an_unreachable_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opml.chain.anvil import free_port
    from opml.cli import main
    from opml.node.deployment import Deployment

    address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    Deployment(network="t", chain_id=31337, start_block=0, coordinator=address, game=address,
               registry=address).save(tmp_path / "d.json")
    path = write_config(tmp_path / "node.toml", private_key=DEV_PRIVATE_KEYS[2], deployment=str(tmp_path / "d.json"),
                        rpc_url=f"http://127.0.0.1:{free_port()}")
    try:
        assert main(["submitter", "--config", str(path)]) == 2
    finally:
        import structlog

        structlog.reset_defaults()
    assert "cannot reach the chain at http://127.0.0.1:" in capsys.readouterr().err


def test_bus_and_request_keys_default_to_the_embedded_broker_and_every_request(tmp_path: Path,
                                                                               deployment: Path) -> None:
    path = write_config(tmp_path / "node.toml", private_key=DEV_PRIVATE_KEYS[2], deployment=str(deployment))
    config = load_config(path)
    assert config.broker is None and config.embedded_broker and config.embedded_broker_port == 1883
    assert config.requests == []
    config = load_config(path, requests=[2, 5], embedded_broker=False, embedded_broker_port=18830)
    assert config.requests == [2, 5] and not config.embedded_broker and config.embedded_broker_port == 18830
    with pytest.raises(ConfigError, match="embedded_broker_port"):
        load_config(path, embedded_broker_port=0)
    with pytest.raises(ConfigError, match="requests"):
        load_config(path, requests=["first"])
