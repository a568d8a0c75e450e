"""One frozen settings object: defaults < config file (TOML) < `KHO_*` environment.

The config file is `$KHO_CONFIG`, else `$KHO_HOME/kho.toml` if it exists. It holds what
people edit: limits, OCR options, the taxonomy path, principals.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path

from kho.core.secrets import read_secret_file

from .errors import ConfigError
from .types import ALL_UNITS, Principal, UnitError, normalize_unit

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
# tesseract languages when nothing says otherwise. "vie" alone: "vie+eng" reads capitals and
# names without their marks ("TỈNH QUẢNG NGÃI" -> "TINH QUANG NGAI"; bench/README.md)
DEFAULT_LANG = "vie"
# model profiles: "standard" reads with the distribution's tessdata (Debian's
# tesseract-ocr-* packages); "best" with the tessdata_best integer vie model that
# scripts/setup puts in `<models>/best`, next to links to the distribution's other files
OCR_PROFILES = ("standard", "best")
DEFAULT_PROFILE = "standard"
DEFAULT_MODELS = Path(sys.prefix) / "share" / "kho" / "tessdata"  # the virtualenv's share/


@dataclass(frozen=True)
class OcrOptions:
    lang: str = DEFAULT_LANG
    profile: str = DEFAULT_PROFILE  # which tesseract models read (OCR_PROFILES)
    models: str = ""  # folder of the non-standard profiles' tessdata; "": DEFAULT_MODELS
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
    tone_marks: bool = True  # library engine: put back tones dropped from â ê ô (ocr/marks.py)

    def __post_init__(self):
        if self.engine not in OCR_ENGINES:
            raise ConfigError(f"[ocr] engine must be auto, library or cli, got {self.engine!r}")
        if self.profile not in OCR_PROFILES:
            raise ConfigError(
                f"[ocr] profile must be {' or '.join(OCR_PROFILES)}, got {self.profile!r}"
            )

    @property
    def tessdata(self) -> str:
        """The profile's tessdata folder; "" for the distribution's own (tesseract finds it)."""
        if self.profile == "standard":
            return ""
        return str(Path(self.models or DEFAULT_MODELS).expanduser() / self.profile)


@dataclass(frozen=True)
class WebOptions:
    """`kho web`: who is reading is decided here, never by the browser.

    auth "password": a login form checked against `password` hashes under [principals.NAME]
    (`kho web passwd` makes one); "header": an authenticating proxy in front sets
    `user_header` to the principal's name, taken only from a peer in `trusted_proxies`;
    "none": everyone is the default principal, allowed on a loopback address only;
    "" (default): "password" if any principal has one, else "none".
    """

    auth: str = ""
    user_header: str = "X-Remote-User"
    # addresses or CIDRs of the proxies whose user header and X-Forwarded-For are believed;
    # "unix": whoever reaches a unix socket kho serves on (`--unix-socket`, its file mode)
    trusted_proxies: tuple[str, ...] = ()
    secret_key: str = ""  # signs session cookies; default: a random key kept in home/web.key
    secure_cookies: bool | None = None  # None: on unless served on a loopback address
    session_hours: float = 8.0
    max_failed_logins: int = 5  # failed logins of one name from one address lock that pair
    max_failed_logins_per_source: int = 20  # ...of any names from one address lock the address
    lockout_minutes: float = 15.0  # how long a failed login counts
    timezone: str = "Asia/Ho_Chi_Minh"  # the zone the pages show times in (IANA name)
    upload_max_mb: float = 512.0  # one upload request (web/batches.py), all its files
    upload_file_max_mb: float = 200.0  # one file of an upload

    def __post_init__(self):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ConfigError(
                f"[web] timezone {self.timezone!r} is not a time zone: give an IANA name "
                "such as Asia/Ho_Chi_Minh"
            ) from err
        if self.auth not in ("", "password", "header", "none"):
            raise ConfigError(f"[web] auth must be password, header or none, got {self.auth!r}")
        proxies = self.trusted_proxies
        proxies = (proxies,) if isinstance(proxies, str) else proxies
        proxies = tuple(str(p).strip() for p in proxies)
        for p in proxies:
            if p != "unix":
                try:
                    ipaddress.ip_network(p, strict=False)
                except ValueError as err:
                    raise ConfigError(
                        f'[web] trusted_proxies: {p!r} is not an address, a CIDR or "unix"'
                    ) from err
        object.__setattr__(self, "trusted_proxies", proxies)


@dataclass(frozen=True)
class ElasticOptions:
    """How kho logs in to Elasticsearch and checks its certificate (`[elasticsearch]`,
    `KHO_ELASTICSEARCH_*`): an API key, or a user and password; `ca`, the CA bundle (PEM)
    that signed an https cluster's certificate. The secrets never appear in a repr."""

    api_key: str = field(default="", repr=False)  # the "encoded" value Elasticsearch returns
    user: str = ""
    password: str = field(default="", repr=False)
    ca: str = ""

    def __post_init__(self):
        if self.api_key and (self.user or self.password):
            raise ConfigError("[elasticsearch]: set an api key or a user and password, not both")
        if bool(self.user) != bool(self.password):
            raise ConfigError("[elasticsearch]: a user needs a password, a password a user")
        if self.ca and not Path(self.ca).expanduser().is_file():
            raise ConfigError(f"[elasticsearch] ca: no such file {self.ca}")


# [elasticsearch] key -> its environment variable; api_key and password also have `_file`
_ES_KEYS = {
    "api_key": "KHO_ELASTICSEARCH_API_KEY",
    "user": "KHO_ELASTICSEARCH_USER",
    "password": "KHO_ELASTICSEARCH_PASSWORD",
    "ca": "KHO_ELASTICSEARCH_CA",
}
_ES_SECRETS = ("api_key", "password")


def _elastic(data: dict, env: dict[str, str]) -> ElasticOptions:
    """The `[elasticsearch]` table overlaid by the environment; `*_file` secrets read."""
    known = set(_ES_KEYS) | {f"{k}_file" for k in _ES_SECRETS}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown keys in [elasticsearch]: {', '.join(sorted(unknown))}")
    values = {}
    for key, var in _ES_KEYS.items():
        file_var = f"{var}_FILE"
        if env.get(var):
            values[key] = env[var]
        elif key in _ES_SECRETS and env.get(file_var):
            values[key] = read_secret_file(env[file_var], file_var)
        elif data.get(key):
            values[key] = str(data[key])
        elif key in _ES_SECRETS and data.get(f"{key}_file"):
            values[key] = read_secret_file(data[f"{key}_file"], f"[elasticsearch] {key}_file")
    return ElasticOptions(**values)


@dataclass(frozen=True)
class AuditOptions:
    """`[audit]`: copies of the audit log's head hash kept outside the catalog.

    The hash chain shows any change inside the log; rows cut from its end leave a shorter
    valid chain, found only against a head exported before (`kho audit verify --head`).
    """

    head_file: str = ""  # append "AT ID HASH" lines here (an append-only file, other disk)
    head_every: int = 1  # export every Nth row's head (1: every row)
    syslog: bool = False  # also send each exported head to syslog
    syslog_address: str = "/dev/log"  # a socket path, or host:port (UDP) for a remote syslog

    def __post_init__(self):
        if self.head_every < 1:
            raise ConfigError(f"[audit] head_every must be 1 or more, got {self.head_every}")


@dataclass(frozen=True)
class ReviewOptions:
    """`[review]`: what goes to a person. A header field (number, date, issuer, signer ...)
    read with less confidence (0-1) is stored empty and sent to `kho review`."""

    field_confidence: float = 0.5

    def __post_init__(self):
        if not 0 <= self.field_confidence <= 1:
            raise ConfigError(f"[review] field_confidence must be 0-1, got {self.field_confidence}")


@dataclass(frozen=True)
class ArchiveOptions:
    """`[archive]`: how ingest files documents into dossiers. `folder_dossiers`: each
    folder of scans is one dossier, named by the folder (within `--fonds`)."""

    folder_dossiers: bool = False

    def __post_init__(self):
        if type(self.folder_dossiers) is not bool:
            raise ConfigError(
                f"[archive] folder_dossiers must be true or false, got {self.folder_dossiers!r}"
            )


@dataclass(frozen=True)
class TransferOptions:
    """`[transfer]`: the most a transfer package may unpack to (bytes, files); a package
    over either is refused before anything of it is stored."""

    max_bytes: int = 20 * 1024**3
    max_files: int = 200_000

    def __post_init__(self):
        for name in ("max_bytes", "max_files"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(
                    f"[transfer] {name} must be a whole number above 0, got {value!r}"
                )


SHARING = ("private", "group")


@dataclass(frozen=True)
class StorageOptions:
    """Who may read what kho writes: "private" (the owning account only: dirs 0700, files
    0600) or "group" (also the accounts of `group`: dirs 2750, files 0640)."""

    sharing: str = "private"
    group: str = ""

    def __post_init__(self):
        if self.sharing not in SHARING:
            raise ConfigError(f"[storage] sharing must be private or group, got {self.sharing!r}")
        if self.sharing == "group" and not self.group:
            raise ConfigError(
                '[storage] sharing = "group" needs group = "NAME" (or KHO_STORAGE_GROUP)'
            )


@dataclass(frozen=True)
class Settings:
    home: Path = DEFAULT_HOME
    # the service URLs may carry passwords: never in a repr (show them with redact_url)
    database_url: str = field(default="", repr=False)  # default: sqlite under home
    index_backend: str = ""  # "embedded" | "elasticsearch"; default from elasticsearch_url
    elasticsearch_url: str = field(default="", repr=False)
    index_name: str = "kho-pages"
    redis_url: str = field(default="", repr=False)
    jobs: int = 0  # 0: one per core
    taxonomy: str = ""  # path to a taxonomy YAML; default: the bundled one
    default_principal: str = ""  # name in `principals` the CLI acts as without --as
    limits: Limits = field(default_factory=Limits)
    ocr: OcrOptions = field(default_factory=OcrOptions)
    principals: dict[str, Principal] = field(default_factory=dict)
    web: WebOptions = field(default_factory=WebOptions)
    elasticsearch: ElasticOptions = field(default_factory=ElasticOptions)
    audit: AuditOptions = field(default_factory=AuditOptions)
    storage: StorageOptions = field(default_factory=StorageOptions)
    review: ReviewOptions = field(default_factory=ReviewOptions)
    archive: ArchiveOptions = field(default_factory=ArchiveOptions)
    transfer: TransferOptions = field(default_factory=TransferOptions)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)  # name -> hash
    operators: frozenset[str] = frozenset()  # principals who may see queues and the audit log
    reviewers: frozenset[str] = frozenset()  # principals who may settle classifications (web)
    uploaders: frozenset[str] = frozenset()  # principals who may upload batches (web)

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
_STORAGE_ENV = {"KHO_STORAGE_SHARING": "sharing", "KHO_STORAGE_GROUP": "group"}


def settings_env(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a `kho` subprocess that loads these same settings (the config file it
    names, with these settings' environment values in place of its own)."""
    out = dict(env)
    for var, (name, _conv) in _ENV.items():
        value = getattr(settings, name)
        if value:
            out[var] = str(value)
        else:
            out.pop(var, None)
    return out


def _sub(cls, data: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown keys in [{where}]: {', '.join(sorted(unknown))}")
    try:
        return cls(**data)
    except TypeError as err:
        raise ConfigError(f"[{where}]: {err}") from err


PRINCIPAL_KEYS = ("clearance", "units", "groups", "password", "operator", "reviewer", "uploader")


def _principals(data: dict) -> dict[str, Principal]:
    if not isinstance(data, dict):
        raise ConfigError("[principals] must be a table of [principals.NAME] tables")
    return {name: _principal(name, p) for name, p in data.items()}


def _principal(name: str, p: object) -> Principal:
    """One [principals.NAME] table, checked: a wrong type must never widen what it sees."""
    where = f"[principals.{name}]"
    if not isinstance(p, dict):
        raise ConfigError(f"{where} must be a table (clearance = 0, units = [...])")
    unknown = set(p) - set(PRINCIPAL_KEYS)
    if unknown:
        keys = ", ".join(sorted(unknown))
        raise ConfigError(f"unknown keys in {where}: {keys}; use {', '.join(PRINCIPAL_KEYS)}")
    level = p.get("clearance", 0)
    if type(level) is not int or not 0 <= level <= 3:
        raise ConfigError(
            f"{where} clearance must be an integer 0-3 (clearance = 2), got {level!r}"
        )
    for key in ("operator", "reviewer", "uploader"):
        if type(p.get(key, False)) is not bool:
            raise ConfigError(f"{where} {key} must be true or false, got {p[key]!r}")
    return Principal(
        name=name,
        clearance=level,
        units=tuple(_scope(s, where) for s in _strings(p, "units", where, 'units = ["qk7/f9"]')),
        groups=tuple(
            _group(g, where) for g in _strings(p, "groups", where, 'groups = ["ban-to-chuc"]')
        ),
    )


def _strings(p: dict, key: str, where: str, example: str) -> tuple[str, ...]:
    """A list of strings (a string alone would become its characters)."""
    values = p.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where} {key} must be a list of names ({example}), got {values!r}")
    return tuple(values)


def _group(group: str, where: str) -> str:
    if not group.strip() or "|" in group:
        raise ConfigError(f"{where} groups: {group!r} is not a name (empty, or holds '|')")
    return group


def _scope(scope: str, where: str) -> str:
    """A unit scope: the literal '*' (every unit) or a unit path in its normal form."""
    if scope == ALL_UNITS:
        return scope
    try:
        unit = normalize_unit(scope)
    except UnitError as err:
        raise ConfigError(f"{where} units: {err}") from None
    if not unit:
        raise ConfigError(f"{where} units: {scope!r} names no unit; write '*' for every unit")
    return unit


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file: `$KHO_CONFIG`, else `$KHO_HOME/kho.toml` (which may not exist)."""
    env = os.environ if env is None else env
    if env.get("KHO_CONFIG"):
        return Path(env["KHO_CONFIG"])
    return Path(env.get("KHO_HOME") or DEFAULT_HOME).expanduser() / "kho.toml"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment and the config file. Raises ConfigError."""
    env = dict(os.environ if env is None else env)
    path = config_path(env)
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read config {path}: {err}") from err
    elif env.get("KHO_CONFIG"):
        raise ConfigError(f"config file {path} does not exist (KHO_CONFIG)")
    tables = (
        "limits", "ocr", "principals", "web", "elasticsearch", "audit", "storage", "review",
        "archive", "transfer",
    )  # fmt: skip
    top = {k: v for k, v in data.items() if k not in tables}
    known = {f.name for f in fields(Settings)} - {
        "passwords",
        "operators",
        "reviewers",
        "uploaders",
    }
    unknown = set(top) - known
    if unknown:
        raise ConfigError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
    storage = data.get("storage", {}) | {k: env[v] for v, k in _STORAGE_ENV.items() if env.get(v)}
    settings = Settings(
        **top,
        limits=_sub(Limits, data.get("limits", {}), "limits"),
        ocr=_sub(OcrOptions, data.get("ocr", {}), "ocr"),
        principals=_principals(data.get("principals", {})),
        web=_sub(WebOptions, data.get("web", {}), "web"),
        elasticsearch=_elastic(data.get("elasticsearch", {}), env),
        audit=_sub(AuditOptions, data.get("audit", {}), "audit"),
        storage=_sub(StorageOptions, storage, "storage"),
        review=_sub(ReviewOptions, data.get("review", {}), "review"),
        archive=_sub(ArchiveOptions, data.get("archive", {}), "archive"),
        transfer=_sub(TransferOptions, data.get("transfer", {}), "transfer"),
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
        uploaders=frozenset(
            n for n, p in data.get("principals", {}).items() if p.get("uploader") is True
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
