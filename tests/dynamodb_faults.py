"""DynamoDB faults injected into the real boto3 client (moto cannot throttle or report
transaction conflicts): a wrapper whose TransactWriteItems is cancelled on a plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

Items = list[dict[str, Any]]


class FlakyDynamoDB:
    """The real (moto) client, whose TransactWriteItems is cancelled `times` times with
    `code` on the item `index` of the transactions `which` picks."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.plan: list[dict[str, Any]] = []
        self.injected = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def fail(self, which: Callable[[Items], bool], code: str, index: int, times: int) -> None:
        self.plan.append({"which": which, "code": code, "index": index, "times": times})

    def transact_write_items(self, **request: Any) -> Any:
        items = request["TransactItems"]
        for step in self.plan:
            if step["times"] and step["which"](items):
                step["times"] -= 1
                self.injected += 1
                reasons = [{"Code": "None"} for _ in items]
                reasons[step["index"] if step["index"] >= 0 else len(items) - 1] = {
                    "Code": step["code"],
                    "Message": f"injected {step['code']}",
                }
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": reasons,
                    },
                    "TransactWriteItems",
                )
        return self._client.transact_write_items(**request)


def opens_session(items: Items) -> bool:
    """The opener's transaction: pointer, message, session and lead."""
    return len(items) == 4 and any(
        i.get("Put", {}).get("Item", {}).get("SK", {}).get("S", "").startswith("SESSION#")
        for i in items
    )


def records_acceptance(items: Items) -> bool:
    """The send result's transaction: the OUT item, and the pointer to it."""
    return any(
        i.get("Put", {}).get("Item", {}).get("sk", {}).get("S", "").startswith("OUT#")
        for i in items
    )
