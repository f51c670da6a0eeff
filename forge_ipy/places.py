"""Where forge-ipy keeps its files: the config and cache folders, file names, file stamps.

Only `os` is imported (platformdirs when no folder is set in the environment): shell
completion starts here and answers before settings, pathlib or dataclasses would load.
"""

from __future__ import annotations

import os

APP_NAME = "forge-ipy"
CONFIG_NAME = "config.toml"
STORE_NAME = "credentials.json"  # the credential store, in the config folder
SALT_NAME = "fingerprint.salt"  # the fingerprints' salt, in the config folder

_platform_folders: dict[str, str] = {}


def config_folder() -> str:
    """Folder of `config.toml`, the credential store and `state.json`."""
    return _folder("FORGE_IPY_CONFIG_DIR", "user_config_dir")


def cache_folder() -> str:
    """Folder of the shared model cache `models.json` and its names index."""
    return _folder("FORGE_IPY_CACHE_DIR", "user_cache_dir")


def salt_paths() -> tuple[str, str]:
    """Where the fingerprints' salt may live, in the order it is looked for: the config
    folder, or the cache folder when the config folder is read-only."""
    return (os.path.join(config_folder(), SALT_NAME), os.path.join(cache_folder(), SALT_NAME))


def aws_files() -> tuple[str, str]:
    """The AWS chain's shared credentials file and config file, where botocore looks for
    them (their profiles can log Amazon Bedrock in)."""
    return _aws_files(os.environ.get("AWS_SHARED_CREDENTIALS_FILE"),
                      os.environ.get("AWS_CONFIG_FILE"), os.environ.get("HOME"))


_aws_memo: dict[tuple[str | None, ...], tuple[str, str]] = {}


def _aws_files(credentials: str | None, config: str | None,
               home_variable: str | None) -> tuple[str, str]:
    # Asked on every list request: the paths are worked out once per set of variables.
    key = (credentials, config, home_variable)
    found = _aws_memo.get(key)
    if found is None:
        home = os.path.expanduser("~")
        found = (credentials or os.path.join(home, ".aws", "credentials"),
                 config or os.path.join(home, ".aws", "config"))
        _aws_memo[key] = found
    return found


def _folder(variable: str, platform_function: str) -> str:
    override = os.environ.get(variable)
    if override:
        return override
    found = _platform_folders.get(platform_function)
    if found is None:
        import platformdirs

        found = getattr(platformdirs, platform_function)(APP_NAME)
        _platform_folders[platform_function] = found
    return found


def file_stamp(path: str) -> tuple[int, int, int] | None:
    """Changes whenever the file is written or replaced (the clock alone may be coarse)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)
