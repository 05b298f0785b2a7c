"""Which state changes an A2A task allows, and who may make them (pure rules, no I/O).

A hosted agent moves its task through the A2A states; terminal states (completed, failed, canceled, rejected)
never change again. A caller's message to an interrupted task (input or auth required) resumes it: the task
is `TASK_STATE_SUBMITTED` again and reaches the agent as new work. Either side may cancel a task that has not
ended.
"""

from __future__ import annotations

from services.a2a.models import INTERRUPTED, TERMINAL
from shared.errors import BadRequest, Conflict

# A2A error reasons (specification §3.3.2) carried in the details of a service error, for the gateway's binding.
TASK_NOT_FOUND = "TASK_NOT_FOUND"
TASK_NOT_CANCELABLE = "TASK_NOT_CANCELABLE"
UNSUPPORTED_OPERATION = "UNSUPPORTED_OPERATION"
CONTENT_TYPE_NOT_SUPPORTED = "CONTENT_TYPE_NOT_SUPPORTED"
PUSH_NOT_SUPPORTED = "PUSH_NOTIFICATION_NOT_SUPPORTED"


def a2a_error(reason: str) -> dict[str, str]:
    return {"a2a_reason": reason}


def after_agent_update(current: str, new: str) -> str:
    """The state a hosted agent's update leads to; refused once the task has ended."""
    if current in TERMINAL:
        raise Conflict(f"Task is {current}: it accepts no further updates", a2a_error(UNSUPPORTED_OPERATION))
    return new


def after_caller_message(current: str) -> str:
    """The state a caller's follow-up message leads to."""
    if current in TERMINAL:
        raise BadRequest(
            f"Task is {current}: it accepts no further messages", a2a_error(UNSUPPORTED_OPERATION)
        )
    return "TASK_STATE_SUBMITTED" if current in INTERRUPTED else current


def after_cancel(current: str) -> str:
    if current in TERMINAL:
        raise BadRequest(f"Task is {current} and cannot be canceled", a2a_error(TASK_NOT_CANCELABLE))
    return "TASK_STATE_CANCELED"


def ends_a_wait(state: str) -> bool:
    """Whether a blocking SendMessage or a stream stops at this state (terminal or interrupted)."""
    return state in TERMINAL or state in INTERRUPTED
