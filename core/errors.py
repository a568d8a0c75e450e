"""One error tree for kho, and the exit codes only the CLI maps them to.

Every message says what to do next. Bad input is a *result* recorded on its file
(`BadInputError`); system trouble (`ServiceError`) propagates so a queue can retry it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    ok = 0
    files_failed = 1  # the batch ran, but at least one file or page failed (see `kho status`)
    usage = 2  # bad command line
    not_found = 3  # no such document / path, or not visible to the principal
    missing_dependency = 4  # tesseract or a language pack is missing
    config = 5  # invalid configuration file or environment
    service_unavailable = 6  # Redis, PostgreSQL or Elasticsearch did not answer
    interrupted = 130  # Ctrl-C: re-run the same command to finish what is missing


class KhoError(Exception):
    """Root of every error kho raises on purpose."""

    exit_code = ExitCode.usage


class ConfigError(KhoError):
    exit_code = ExitCode.config


class MissingDependencyError(KhoError):
    exit_code = ExitCode.missing_dependency


class ServiceError(KhoError):
    """A service (Redis, PostgreSQL, Elasticsearch) is down or refused: retry later."""

    exit_code = ExitCode.service_unavailable


class NotFoundError(KhoError):
    exit_code = ExitCode.not_found


class IngestError(KhoError):
    pass


class BadInputError(IngestError):
    """The file itself is unusable (corrupt, encrypted, empty, too big...).

    Recorded on the file with `str(err)` as the reason; never retried.
    """

    exit_code = ExitCode.files_failed


class LimitExceededError(BadInputError):
    """A configured limit (bytes, pixels, pages, seconds) was exceeded."""


class OcrError(KhoError):
    pass


class IndexError_(KhoError):  # noqa: N801 - avoid shadowing the builtin IndexError
    pass
