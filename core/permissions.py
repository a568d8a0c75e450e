"""One file-mode policy for everything kho writes, and the start-up check that enforces it.

"private": only the owning account reads the archive (dirs 0700, files 0600).
"group": the accounts of one group read it too (dirs 2750, setgid so everything made
inside belongs to the group; files 0640). Others never get any access.

The process umask follows the policy (set once at start-up, inherited by every worker
process), so files that libraries create — the SQLite catalog and index with their -wal and
-shm files, the log, temporary files — follow it too; kho's own writer sets the modes
explicitly as well.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .settings import Settings, StorageOptions, config_path


@dataclass(frozen=True)
class FilePolicy:
    sharing: str = "private"
    group: str = ""
    gid: int = -1  # -1: leave the group as it is (private)

    @property
    def dir_mode(self) -> int:
        return 0o700 if self.sharing == "private" else 0o2750

    @property
    def file_mode(self) -> int:
        return 0o600 if self.sharing == "private" else 0o640

    @property
    def umask(self) -> int:
        return 0o077 if self.sharing == "private" else 0o027

    def settle(self, fd: int) -> None:
        """Give an open file the policy's group and mode (whatever the umask was)."""
        if self.gid >= 0:
            os.fchown(fd, -1, self.gid)
        os.fchmod(fd, self.file_mode)

    def make_dirs(self, path: Path) -> None:
        """`mkdir -p` where every folder made gets the policy's mode and group; folders
        that already exist are left as they are."""
        missing = []
        path = Path(path)
        while not path.is_dir():
            missing.append(path)
            if path.parent == path:
                break
            path = path.parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:  # another process made it first
                continue
            if self.gid >= 0:
                os.chown(folder, -1, self.gid)
            os.chmod(folder, self.dir_mode)


PRIVATE = FilePolicy()


def file_policy(options: StorageOptions) -> FilePolicy:
    """The policy `[storage]` asks for; ConfigError if its group is unusable here."""
    if options.sharing == "private":
        return PRIVATE
    try:
        gid = grp.getgrnam(options.group).gr_gid
    except KeyError:
        raise ConfigError(
            f"[storage] group {options.group!r} does not exist: create it "
            f'(groupadd {options.group}) or set sharing = "private"'
        ) from None
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        raise ConfigError(
            f"this account is not in the [storage] group {options.group!r}: "
            f"usermod -aG {options.group} $USER, then log in again"
        )
    return FilePolicy(sharing="group", group=options.group, gid=gid)


def open_home(settings: Settings) -> FilePolicy:
    """Start-up of every kho process: umask from the policy, the storage root made if
    missing, and a refusal (ConfigError, with the command that fixes it) when the root, the
    config file or the logs are open to accounts the policy does not name."""
    policy = file_policy(settings.storage)
    os.umask(policy.umask)
    home = settings.home
    policy.make_dirs(home)
    check_mode(home, policy, "storage root")
    config = config_path()
    if config.is_file():
        check_mode(config, policy, "config file")
    logs = home / "logs"  # made here with the policy's mode; core.logs opens its file
    policy.make_dirs(logs)
    check_mode(logs, policy, "log folder")
    for entry in logs.iterdir():
        check_mode(entry, policy, "log file")
    return policy


def check_mode(path: Path, policy: FilePolicy, what: str) -> None:
    """ConfigError if `path` is readable, writable or searchable by others (and by its group
    in private mode), or, in group mode, is a folder not of the policy's group with setgid."""
    st = path.stat()
    folder = stat.S_ISDIR(st.st_mode)
    open_bits = st.st_mode & policy.umask  # the bits the policy never gives
    wrong_group = (
        policy.gid >= 0 and folder and (st.st_gid != policy.gid or not st.st_mode & stat.S_ISGID)
    )
    if not open_bits and not wrong_group:
        return
    fix = f"chmod {policy.dir_mode if folder else policy.file_mode:o} {path}"
    if wrong_group:  # and what is inside: readable by the group, folders setgid
        fix = (
            f"chgrp -R {policy.group} {path} && chmod -R u=rwX,g=rX,o= {path} && "
            f"find {path} -type d -exec chmod g+s {{}} +"
        )
    mode = f"mode {stat.S_IMODE(st.st_mode):04o}"
    if open_bits:
        problem = f"is open to {'others' if open_bits & 0o007 else 'its group'} ({mode})"
    else:
        problem = f"is not a setgid folder of group {policy.group} ({mode})"
    raise ConfigError(f"the {what} {path} {problem}; run: {fix}")
