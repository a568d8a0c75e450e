"""One frozen settings object: defaults < config file (TOML) < `KHO_*` environment.

The config file is `$KHO_CONFIG`, else `$KHO_HOME/kho.toml` if it exists. It holds what
people edit: limits, OCR options, the taxonomy path, principals.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path

from .errors import ConfigError
from .types import Principal

DEFAULT_HOME = Path.home() / ".local" / "share" / "kho"
# who the doors act as when the config names nobody: every unit, unclassified records only
LOCAL_PRINCIPAL = Principal(name="local", clearance=0, units=("*",))


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 512 * 1024 * 1024  # bytes per source file
    max_page_pixels: int = 150_000_000  # pixels per page (A0 at 300 dpi is ~140 M)
    max_pages: int = 5_000  # pages per file
    page_timeout_s: float = 300.0  # seconds for one page's OCR before it is a failure
    render_dpi: int = 300  # dots per inch when rasterising scanned PDF pages
    worker_memory_mb: int = 3072  # address space of one worker process (0: no limit)


OCR_ENGINES = ("auto", "library", "cli")


@dataclass(frozen=True)
class OcrOptions:
    lang: str = "vie+eng"
    psm: int = 3  # tesseract page segmentation mode (3: fully automatic)
    oem: int = 1  # LSTM only
    clean: bool = True  # run the cleanup steps before OCR
    orientation: bool = True
    deskew: bool = True
    denoise: bool = True  # 3x3 median, only on grainy or speckled pages
    binarize: bool = False  # Otsu before OCR: tesseract's LSTM reads the flattened gray page better
    borders: bool = True
    stamp: bool = True  # turn red seal ink to paper on colour scans that have it
    illumination: bool = True  # flatten uneven light where the paper's brightness varies
    upscale: bool = False  # enlarge scans below 200 dpi (no gain measured with tesseract 5)
    sharpen: bool = True  # unsharp mask on gray pages of 150 dpi or more
    crop: bool = True  # OCR only the text area: faster, same text
    review_confidence: float = 60.0  # pages below this mean confidence are flagged
    engine: str = "auto"  # "library" (tesserocr, in-process) | "cli" (the program) | "auto"

    def __post_init__(self):
        if self.engine not in OCR_ENGINES:
            raise ConfigError(f"[ocr] engine must be auto, library or cli, got {self.engine!r}")


@dataclass(frozen=True)
class WebOptions:
    """`kho web`: who is reading is decided here, never by the browser.

    auth "password": a login form checked against `password` hashes under [principals.NAME]
    (`kho web passwd` makes one); "header": an authenticating proxy in front sets
    `user_header` to the principal's name (the port must then be reachable only by it);
    "none": everyone is the default principal, allowed on a loopback address only;
    "" (default): "password" if any principal has one, else "none".
    """

    auth: str = ""
    user_header: str = "X-Remote-User"
    secret_key: str = ""  # signs session cookies; default: a random key kept in home/web.key
    secure_cookies: bool = False  # set when served over HTTPS (it should be, past loopback)
    session_hours: float = 8.0
    max_failed_logins: int = 5  # failed logins of one name within lockout_minutes lock it
    lockout_minutes: float = 15.0

    def __post_init__(self):
        if self.auth not in ("", "password", "header", "none"):
            raise ConfigError(f"[web] auth must be password, header or none, got {self.auth!r}")


@dataclass(frozen=True)
class Settings:
    home: Path = DEFAULT_HOME
    database_url: str = ""  # default: sqlite under home
    index_backend: str = ""  # "embedded" | "elasticsearch"; default from elasticsearch_url
    elasticsearch_url: str = ""
    index_name: str = "kho-pages"
    redis_url: str = ""
    jobs: int = 0  # 0: one per core
    taxonomy: str = ""  # path to a taxonomy YAML; default: the bundled one
    default_principal: str = ""  # name in `principals` the CLI acts as without --as
    limits: Limits = field(default_factory=Limits)
    ocr: OcrOptions = field(default_factory=OcrOptions)
    principals: dict[str, Principal] = field(default_factory=dict)
    web: WebOptions = field(default_factory=WebOptions)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)  # name -> hash
    operators: frozenset[str] = frozenset()  # principals who may see queues and the audit log
    reviewers: frozenset[str] = frozenset()  # principals who may settle classifications (web)

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'catalog.sqlite'}"

    @property
    def backend(self) -> str:
        if self.index_backend:
            return self.index_backend
        return "elasticsearch" if self.elasticsearch_url else "embedded"

    @property
    def workers(self) -> int:
        return self.jobs or os.cpu_count() or 1

    def principal(self, name: str | None = None) -> Principal:
        """The principal called `name`, else the default one, else 'local' (clearance 0)."""
        name = name or self.default_principal
        if not name:
            return LOCAL_PRINCIPAL
        if name not in self.principals:
            known = ", ".join(sorted(self.principals)) or "none configured"
            raise ConfigError(
                f"unknown principal {name!r} (known: {known}); add [principals.{name}]"
            )
        return self.principals[name]


_ENV = {
    "KHO_HOME": ("home", Path),
    "KHO_DATABASE_URL": ("database_url", str),
    "KHO_INDEX": ("index_backend", str),
    "KHO_ELASTICSEARCH_URL": ("elasticsearch_url", str),
    "KHO_INDEX_NAME": ("index_name", str),
    "KHO_REDIS_URL": ("redis_url", str),
    "KHO_JOBS": ("jobs", int),
    "KHO_TAXONOMY": ("taxonomy", str),
    "KHO_PRINCIPAL": ("default_principal", str),
}


def _sub(cls, data: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown keys in [{where}]: {', '.join(sorted(unknown))}")
    try:
        return cls(**data)
    except TypeError as err:
        raise ConfigError(f"[{where}]: {err}") from err


def _principals(data: dict) -> dict[str, Principal]:
    out = {}
    for name, p in data.items():
        level = int(p.get("clearance", 0))
        if not 0 <= level <= 3:
            raise ConfigError(f"[principals.{name}] clearance must be 0-3, got {level}")
        out[name] = Principal(
            name=name,
            clearance=level,
            units=tuple(p.get("units", ())),
            groups=tuple(p.get("groups", ())),
        )
    return out


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment and the config file. Raises ConfigError."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("KHO_HOME") or DEFAULT_HOME).expanduser()
    path = Path(env["KHO_CONFIG"]) if env.get("KHO_CONFIG") else home / "kho.toml"
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read config {path}: {err}") from err
    elif env.get("KHO_CONFIG"):
        raise ConfigError(f"config file {path} does not exist (KHO_CONFIG)")
    top = {k: v for k, v in data.items() if k not in ("limits", "ocr", "principals", "web")}
    known = {f.name for f in fields(Settings)} - {"passwords", "operators", "reviewers"}
    unknown = set(top) - known
    if unknown:
        raise ConfigError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
    settings = Settings(
        **top,
        limits=_sub(Limits, data.get("limits", {}), "limits"),
        ocr=_sub(OcrOptions, data.get("ocr", {}), "ocr"),
        principals=_principals(data.get("principals", {})),
        web=_sub(WebOptions, data.get("web", {}), "web"),
        passwords={
            n: str(p["password"])
            for n, p in data.get("principals", {}).items()
            if p.get("password")
        },
        operators=frozenset(
            n for n, p in data.get("principals", {}).items() if p.get("operator") is True
        ),
        reviewers=frozenset(
            n for n, p in data.get("principals", {}).items() if p.get("reviewer") is True
        ),
    )
    overrides = {}
    for var, (name, conv) in _ENV.items():
        if env.get(var):
            try:
                overrides[name] = conv(env[var])
            except ValueError as err:
                raise ConfigError(f"{var}={env[var]!r}: {err}") from err
    settings = replace(settings, **overrides)
    if not isinstance(settings.home, Path):
        settings = replace(settings, home=Path(settings.home).expanduser())
    if settings.backend not in ("embedded", "elasticsearch"):
        raise ConfigError(
            f"index backend must be embedded or elasticsearch, not {settings.backend!r}"
        )
    return settings


@cache
def get_settings() -> Settings:
    return load_settings()
