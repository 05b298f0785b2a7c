"""A2A 1.0 wire objects (ProtoJSON: camelCase fields, SCREAMING_SNAKE enums) and the operations' requests.

Only what a hub must understand is modelled strictly (ids, roles, parts, states, sizes); free-form parts of the
protocol (metadata, part data, extensions) are kept as given, within size bounds, so a newer client's extra
fields are not rejected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from shared.models import AgentId, Request

MAX_MESSAGE_BYTES = 256 * 1024  # one Message, serialised
MAX_ARTIFACT_BYTES = 1024 * 1024  # the artifacts of one status update, serialised
MAX_PARTS = 64
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]

TERMINAL = frozenset(
    {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
)
INTERRUPTED = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})
ACTIVE = frozenset({"TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"})
TaskState = Literal[
    "TASK_STATE_SUBMITTED",
    "TASK_STATE_WORKING",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_AUTH_REQUIRED",
]
# What a hosted agent may set; SUBMITTED is the hub's (a new task, or a caller's reply to an interrupted one).
AgentState = Literal[
    "TASK_STATE_WORKING",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_AUTH_REQUIRED",
]


def serialised_size(value: Any) -> int:
    """Bytes of a validated value as it would be stored (models and lists of models included)."""

    def plain(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json", exclude_none=True)
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return len(orjson.dumps(plain(value)))


class Wire(BaseModel):
    """A2A object: camelCase on the wire, snake_case accepted too; unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Part(Wire):
    text: str | None = None
    raw: str | None = None  # base64 bytes
    url: Annotated[str, Field(max_length=2048)] | None = None
    data: Any = None
    metadata: dict[str, Any] | None = None
    filename: Annotated[str, Field(max_length=256)] | None = None
    media_type: Annotated[str, Field(max_length=128)] | None = None

    @model_validator(mode="after")
    def one_content(self) -> Part:
        present = [k for k in ("text", "raw", "url", "data") if getattr(self, k) is not None]
        if len(present) != 1:
            raise ValueError("a part has exactly one of text, raw, url or data")
        return self


def _bounded(limit: int, what: str) -> Any:
    def check(value: Any) -> Any:
        if serialised_size(value) > limit:
            raise ValueError(f"{what} is larger than {limit} bytes")
        return value

    return AfterValidator(check)


class Message(Wire):
    message_id: Id
    context_id: Id | None = None
    task_id: Id | None = None
    role: Literal["ROLE_USER", "ROLE_AGENT"]
    parts: Annotated[list[Part], Field(min_length=1, max_length=MAX_PARTS)]
    metadata: dict[str, Any] | None = None
    extensions: list[str] | None = None
    reference_task_ids: list[Id] | None = None


BoundedMessage = Annotated[Message, _bounded(MAX_MESSAGE_BYTES, "message")]


class Artifact(Wire):
    artifact_id: Id
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=4096)] | None = None
    parts: Annotated[list[Part], Field(min_length=1, max_length=MAX_PARTS)]
    metadata: dict[str, Any] | None = None
    extensions: list[str] | None = None


class AuthenticationInfo(Wire):
    scheme: Annotated[str, Field(min_length=1, max_length=64)]
    credentials: Annotated[str, Field(max_length=4096)] | None = None


class PushConfig(Wire):
    """TaskPushNotificationConfig as a client sends it (`id` and `taskId` are the hub's to fill when absent)."""

    id: Id | None = None
    task_id: Id | None = None
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    token: Annotated[str, Field(max_length=4096)] | None = None
    authentication: AuthenticationInfo | None = None


class SendConfiguration(Wire):
    accepted_output_modes: list[str] | None = None
    task_push_notification_config: PushConfig | None = None
    history_length: Annotated[int, Field(ge=0, le=1000)] | None = None
    return_immediately: bool = False
    blocking: bool | None = None  # the 0.3 / early 1.0 name: blocking=false is return_immediately=true

    @property
    def waits(self) -> bool:
        return not self.return_immediately if self.blocking is None else self.blocking


class SendMessageRequest(Wire):
    message: BoundedMessage
    configuration: SendConfiguration | None = None
    metadata: dict[str, Any] | None = None


# ── operation requests (the gateway adds `agent_id`, the hosted agent of the endpoint) ──


class OnAgent(Request):
    agent_id: AgentId


class SendMessage(OnAgent):
    request: SendMessageRequest


class TaskRef(OnAgent):
    id: Id
    history_length: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, validation_alias=AliasChoices("history_length", "historyLength")
    )


class ListTasks(OnAgent):
    context_id: Id | None = Field(default=None, validation_alias=AliasChoices("context_id", "contextId"))
    status: TaskState | None = None
    page_size: Annotated[int, Field(ge=1, le=100)] = Field(
        default=50, validation_alias=AliasChoices("page_size", "pageSize")
    )
    page_token: Annotated[str, Field(max_length=256)] = Field(
        default="", validation_alias=AliasChoices("page_token", "pageToken")
    )
    history_length: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, validation_alias=AliasChoices("history_length", "historyLength")
    )
    include_artifacts: bool = Field(
        default=False, validation_alias=AliasChoices("include_artifacts", "includeArtifacts")
    )


class TaskEvents(OnAgent):
    id: Id
    after: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class CreatePushConfig(OnAgent):
    config: PushConfig


class PushConfigRef(OnAgent):
    task_id: Id = Field(validation_alias=AliasChoices("task_id", "taskId"))
    id: Id


class ListPushConfigs(OnAgent):
    task_id: Id = Field(validation_alias=AliasChoices("task_id", "taskId"))


class CardRequest(Request):
    agent_id: AgentId
    base_url: Annotated[str, Field(max_length=512)] = ""  # where the caller reached the hub


class HubCardRequest(Request):
    base_url: Annotated[str, Field(max_length=512)] = ""


class HostedTasks(Request):
    """A hosted agent's own inbox of A2A tasks."""

    state: TaskState | None = None
    cursor: Annotated[str, Field(max_length=256)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class StatusUpdate(Request):
    """A hosted agent moves one of its tasks on."""

    task_id: Id
    state: AgentState
    message: BoundedMessage | None = None
    artifacts: (
        Annotated[list[Artifact], Field(max_length=32), _bounded(MAX_ARTIFACT_BYTES, "artifacts")] | None
    ) = None


class HubMessage(Request):
    request: SendMessageRequest
    base_url: Annotated[str, Field(max_length=512)] = ""


class ExternalAdd(Request):
    card_url: Annotated[str, Field(min_length=8, max_length=2048)]


class ExternalRef(Request):
    external_id: Id


class AgentList(Request):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    include_hosted: bool = True
    base_url: Annotated[str, Field(max_length=512)] = ""
