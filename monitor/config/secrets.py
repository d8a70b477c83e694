"""Secrets in the configuration: the four ways to give one, and reading it from where it is.

A secret `KEY` (an API key, a notification URL, a bot token) is given exactly one way: `KEY`
inline, `KEY_file` (a file holding only the secret, mode 0600), `KEY_env` (an environment
variable) or `KEY_credential` (a systemd credential in `$CREDENTIALS_DIRECTORY`). An optional
token has no inline form (`TOKEN_WAYS`). The models declare the sources with the types
`SecretFile`, `SecretEnv` and `SecretCredential` (which validate the path or the name), and read
them with `read_secret` (required) or `optional_token`. A value is stripped, must not be empty
and must not hold control characters (nor whitespace, for a key); it becomes a `SecretStr`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, SecretStr

from monitor.config.checking import mode_problem
from monitor.config.common import Problem, anchor, context

#: The suffixes of the four ways to give one secret: inline, file, environment variable, credential.
SECRET_WAYS = ("", "_file", "_env", "_credential")
#: The ways to give an optional token (no inline form: it would sit in the config file).
TOKEN_WAYS = ("_file", "_env", "_credential")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.fullmatch(value):
        raise ValueError("must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def check_credential_name(value: str | None) -> str | None:
    if value is not None and not _CREDENTIAL_NAME.fullmatch(value):
        raise ValueError(
            "must be a systemd credential name (the NAME of LoadCredential=NAME:PATH;"
            " letters, digits, '_', '-', '.')"
        )
    return value


#: `KEY_file`: a path, relative to the configuration file's directory.
SecretFile = Annotated[Path | None, AfterValidator(anchor)]
#: `KEY_env`: the name of an environment variable.
SecretEnv = Annotated[str | None, AfterValidator(check_env_name)]
#: `KEY_credential`: the name of a systemd credential.
SecretCredential = Annotated[str | None, AfterValidator(check_credential_name)]


class SecretMissing(Exception):
    """A named secret source could not be read; the message is safe to show."""


def ways_given(model: BaseModel, stem: str, ways: Sequence[str] = SECRET_WAYS) -> list[str]:
    """The fields of `model` that give the secret `stem`."""
    return [stem + way for way in ways if getattr(model, stem + way) is not None]


def one_way(model: BaseModel, stem: str) -> list[Problem]:
    """Exactly one way to give the secret `stem`."""
    given = ways_given(model, stem)
    ways = ", ".join(stem + way for way in SECRET_WAYS)
    if not given:
        return [(stem, f"missing: give exactly one of {ways}")]
    if len(given) > 1:
        return [(stem, f"given {len(given)} ways ({', '.join(given)}): give exactly one")]
    return []


def read_secret(model: BaseModel, stem: str) -> tuple[str, SecretStr]:
    """(the field used, the secret) for `stem` given one way; raises `SecretMissing` with a
    clear message."""
    field = ways_given(model, stem)[0]
    return field, _read(field, getattr(model, field), stem)


def optional_token(model: BaseModel, stem: str) -> tuple[list[Problem], SecretStr | None]:
    """(problems, the token) of an optional secret given at most one of `TOKEN_WAYS`."""
    given = ways_given(model, stem, TOKEN_WAYS)
    if not given:
        return [], None
    if len(given) > 1:
        return [(stem, f"given {len(given)} ways ({', '.join(given)}): give at most one")], None
    try:
        return [], _read(given[0], getattr(model, given[0]), stem, name_source=False)
    except SecretMissing as exc:
        return [(given[0], str(exc))], None


def _read(
    field: str, source: SecretStr | Path | str, stem: str, name_source: bool = True
) -> SecretStr:
    """The secret `stem` from `source`, the value of `field` (inline, a file, a variable or a
    credential name); `name_source`: a refused character's message names the source too."""
    env = context().env
    if isinstance(source, SecretStr):
        value, where = source.get_secret_value(), "the inline value"
    elif field.endswith("_file"):
        value, where = _read_file(Path(source)), str(source)
    elif field.endswith("_env"):
        if source not in env:
            raise SecretMissing(f"environment variable {source} is not set")
        value, where = env[str(source)], f"environment variable {source}"
    else:
        value, where = _read_credential(str(source), env), f"credential {source}"
    value = value.strip()
    if not value:
        raise SecretMissing(f"{where} is empty")
    problem = secret_chars_problem(stem, value)
    if problem:
        raise SecretMissing(f"{where}: {problem}" if name_source else problem)
    return SecretStr(value)


def secret_chars_problem(stem: str, value: str) -> str | None:
    """A message when the secret holds characters it cannot hold (never showing the value).

    An API key or secret is one token: whitespace or a control/format character (a line break,
    a tab, a no-break or zero-width space from a copy-paste) inside it is refused. A notification
    URL may not hold control/format characters (whitespace separates several Apprise URLs)."""
    token = stem != "url"
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf") or (token and char.isspace()):
            what = "a control character" if category in ("Cc", "Cf") else "whitespace"
            kind = "the API key or secret" if token else "the URL"
            return (
                f"{kind} contains {what} (a copy-paste error?); write it again without it"
                " (the value is not shown)"
            )
    return None


def _read_file(file: Path) -> str:
    try:
        problem = mode_problem(file, "secret file")
        if problem:
            raise SecretMissing(problem)
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretMissing(f"file {file} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretMissing(f"cannot read {file}: {exc.__class__.__name__}") from None


def _read_credential(name: str, env: Mapping[str, str]) -> str:
    directory = env.get("CREDENTIALS_DIRECTORY")
    hint = f"add LoadCredential={name}:/path/to/secret to the systemd unit"
    if not directory:
        raise SecretMissing(f"$CREDENTIALS_DIRECTORY is not set (not run by systemd?): {hint}")
    file = Path(directory) / name
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretMissing(f"credential {name} not found in {directory}: {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretMissing(f"cannot read credential {name}: {exc.__class__.__name__}") from None
