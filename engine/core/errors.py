"""The engine's error types: each maps to one HTTP status and one clear CLI line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class YekuoError(Exception):
    """Base class; `code` is stable for clients, the message is for people."""

    code = "error"
    status = 400

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(YekuoError):
    code, status = "not_found", 404


class Forbidden(YekuoError):
    code, status = "forbidden", 403


class Conflict(YekuoError):
    """Somebody else changed the same thing first: reload and try again."""

    code, status = "conflict", 409


class InvalidData(YekuoError):
    """Form data failed its JSON Schema; `details` maps field paths to messages."""

    code, status = "invalid_data", 422


class InvalidState(YekuoError):
    code, status = "invalid_state", 409


@dataclass(frozen=True)
class Problem:
    """One deploy-time finding, located as precisely as the source allows."""

    file: str
    message: str
    element: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element:
            where += f" [{self.element}]"
        return f"{where}: {self.message}"


class DeployError(YekuoError):
    """A deployment was refused; `problems` lists every finding, not just the first."""

    code, status = "invalid_definition", 422

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the process definition",
            details=[p.__dict__ for p in problems],
        )


class ScriptError(YekuoError):
    """A BPMN script or condition was refused by the sandbox or failed."""

    code, status = "script_error", 422


class ServiceError(YekuoError):
    """A service-task handler failed; raised instead of SpiffWorkflow's masking NameError."""

    code, status = "service_error", 502


@dataclass
class ErrorInfo:
    """What the instance page shows for an instance in `error`."""

    message: str
    task: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
