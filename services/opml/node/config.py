"""Node configuration: a TOML file plus `OPML_*` environment variables (the environment wins).

    config = load_config(Path("config/submitter.toml"))     # -> NodeConfig, or ConfigError with every problem

Keys (TOML names; env `OPML_<NAME>` in upper case, lists as JSON): `rpc_url`, `private_key`, `deployment`
(the `deploy/<network>.json` addresses file), `models` (model ids this node serves; empty = every model in the
deployment), `model_dir`, `max_bond_wei`, `confirmations`, `start_block`, `poll_interval_s`, `broker_url`
(none: the node hosts an embedded broker on 127.0.0.1:`embedded_broker_port`, or joins the one already there;
`embedded_broker = false` runs without a bus),
`metrics_port` (0 = off), `reorg_depth` (blocks after which a mined move is trusted without checking that its
block is still canonical), `cache_dir`, `node_name`, `log_format`, `log_level`, `faults` (fault injection for
tests and demos), `requests` (submitters: the request ids this node answers when they are new; empty = every
request; a request reopened by a successful challenge is answered whatever the list says), `tx_in_flight`
(transactions sent and not yet mined at once) and `active_requests` (request/submission tasks working at once).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from opml.chain.tx import ETHER
from opml.paths import REPO_ROOT



class ConfigError(Exception):
    """The node cannot start with this configuration; the message lists every problem found."""


class NodeConfig(BaseSettings):
    """Everything a submitter or challenger daemon needs; validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="OPML_", extra="forbid", frozen=True)

    rpc_url: str = "http://127.0.0.1:8545"
    private_key: SecretStr
    deployment: Path = REPO_ROOT / "deploy" / "local.json"
    models: list[int] = Field(default_factory=list)
    model_dir: Path | None = None
    max_bond_wei: int = Field(default=10 * ETHER, ge=0)
    confirmations: int = Field(default=0, ge=0, le=64)
    reorg_depth: int = Field(default=64, ge=0, le=10_000)
    start_block: int | None = Field(default=None, ge=0)
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    broker_url: str | None = None
    embedded_broker: bool = True
    embedded_broker_port: int = Field(default=1883, ge=1, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    cache_dir: Path = REPO_ROOT / "deploy" / "local" / "cache"
    node_name: str = Field(default="node", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    faults: list[str] = Field(default_factory=list)
    requests: list[int] = Field(default_factory=list)
    tx_in_flight: int = Field(default=64, ge=1, le=256)
    active_requests: int = Field(default=16, ge=1, le=1024)

    @field_validator("rpc_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"must be an http(s) URL like http://127.0.0.1:8545, got {value!r}")
        return value

    @field_validator("broker_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parsed = urlparse(value)
        if parsed.scheme != "mqtt" or not parsed.hostname:
            raise ValueError(f"must be an MQTT URL like mqtt://127.0.0.1:1883, got {value!r}")
        return value

    @field_validator("private_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().removeprefix("0x")
        if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
            raise ValueError("must be 32 bytes of hex (64 hex digits, optional 0x prefix)")
        return value

    @field_validator("deployment")
    @classmethod
    def _deployment_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"addresses file {value} does not exist (run `opml devnet up` or deploy first)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return env_settings, init_settings

    @property
    def key(self) -> str:
        return self.private_key.get_secret_value()

    @property
    def broker(self) -> tuple[str, int] | None:
        """(host, port) of the MQTT broker, or None when no broker is configured."""
        if self.broker_url is None:
            return None
        parsed = urlparse(self.broker_url)
        return parsed.hostname or "127.0.0.1", parsed.port or 1883


def load_config(path: Path | None, **overrides: Any) -> NodeConfig:
    """The configuration from the TOML file at `path` (optional), `OPML_*` variables and `overrides`.

    Relative paths inside the file are taken relative to the file's own directory. Raises ConfigError naming
    every bad or missing key (an `OPML_*` variable that does not parse included).
    """
    values = _read_toml(path) if path is not None else {}
    values.update(overrides)
    try:
        return NodeConfig(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except SettingsError as exc:  # e.g. OPML_MODELS=abc: a list must be JSON
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise ConfigError(f"bad node configuration: {exc}{cause} (lists are JSON, e.g. OPML_MODELS='[1, 3]')") \
            from None


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    base = path.resolve().parent
    for name in ("deployment", "model_dir", "cache_dir"):
        if isinstance(data.get(name), str) and not Path(data[name]).is_absolute():
            data[name] = str((base / data[name]).resolve())
    return data


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path is not None else ""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = f"missing (set it in the file or as OPML_{name.upper()})"
        elif error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{name}: {message}")
    return f"bad node configuration{where}: " + "; ".join(problems)
