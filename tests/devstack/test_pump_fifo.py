"""The local pump holds a FIFO group while any of its messages is in flight, as SQS does:
it receives through moto, whose FIFO queues lock a group the same way. These tests keep
that assumption checked (the sender's group handling relies on it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def fifo(aws_env: None) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(
            QueueName="send.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "360"}
        )["QueueUrl"]
        for n in range(3):
            sqs.send_message(
                QueueUrl=url,
                MessageBody=f"m{n}",
                MessageGroupId="chat",
                MessageDeduplicationId=str(n),
            )
        yield sqs, url


def receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
        "Messages", []
    )
    return found


def test_group_is_held_while_its_first_message_is_in_flight_when_the_others_are_handed_back(
    fifo: tuple[Any, str],
) -> None:
    sqs, url = fifo
    first, *rest = receive(sqs, url)
    # When the later messages go back at once while the first waits
    for message in rest:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    # Then none of the group is delivered until the first is back, and then all, in order
    assert receive(sqs, url) == []
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    assert [m["Body"] for m in receive(sqs, url)] == ["m0", "m1", "m2"]


def test_group_is_held_while_a_later_message_is_in_flight_when_the_first_is_back(
    fifo: tuple[Any, str],
) -> None:
    sqs, url = fifo
    first, *_ = receive(sqs, url)
    # When only the first goes back, the others still in flight (what skip_group_on_error did)
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    # Then the whole group stays held: its in-flight messages lock it
    assert receive(sqs, url) == []
