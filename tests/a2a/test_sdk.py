"""The official A2A Python SDK (a2a-sdk, pinned in requirements.txt) drives examples/a2a_server:
every test runs with the SDK's protocol 1.0 client and with its 0.3 compatibility client, which
the SDK picks from the agent card's interfaces."""

import asyncio
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.transports.jsonrpc import JsonRpcTransport
from a2a.compat.v0_3.jsonrpc_transport import CompatJsonRpcTransport
from a2a.helpers import get_artifact_text, get_message_text, new_text_message
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError, UnsupportedOperationError

VERSIONS = ["1.0", "0.3"]
TIMEOUT = 30.0


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT * 2))


class Agent:
    """The server seen through the SDK's client for one protocol version."""

    def __init__(self, url: str, version: str):
        self.url = url
        self.version = version

    async def __aenter__(self):
        self.http = httpx.AsyncClient(timeout=TIMEOUT)
        self.card = await A2ACardResolver(self.http, self.url).get_agent_card()
        # Keep only this version's interface: the SDK then picks its transport for that version.
        card = type(self.card)()
        card.CopyFrom(self.card)
        interfaces = [i for i in card.supported_interfaces if i.protocol_version == self.version]
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(interfaces)
        self.client = ClientFactory(ClientConfig(streaming=False, httpx_client=self.http)).create(card)
        self.streaming = ClientFactory(ClientConfig(streaming=True, httpx_client=self.http)).create(card)
        return self

    async def __aexit__(self, *_):
        await self.http.aclose()

    def message(self, text: str, *, task_id=None, context_id=None, message_id=None):
        message = new_text_message(text, task_id=task_id, context_id=context_id, role=Role.ROLE_USER)
        if message_id:
            message.message_id = message_id
        return message

    async def send(self, text: str = "", *, wait=True, message=None, history_length=None, **ids):
        configuration = SendMessageConfiguration(return_immediately=not wait)
        if history_length is not None:
            configuration.history_length = history_length
        request = SendMessageRequest(message=message or self.message(text, **ids), configuration=configuration)
        responses = [response async for response in self.client.send_message(request)]
        assert len(responses) == 1 and responses[0].HasField("task"), responses
        return responses[0].task

    async def stream(self, text: str):
        request = SendMessageRequest(message=self.message(text))
        return [event async for event in self.streaming.send_message(request)]

    async def get(self, task_id: str, history_length=None):
        request = GetTaskRequest(id=task_id)
        if history_length is not None:
            request.history_length = history_length
        return await self.client.get_task(request)

    async def until(self, task_id: str, *states):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            task = await self.get(task_id)
            if task.status.state in states:
                return task
            await asyncio.sleep(0.02)
        raise AssertionError(f"task {task_id} is {TaskState.Name(task.status.state)}, not in {states}")


def agent(server, version):
    return Agent(server.url, version)


def kinds(events):
    return [event.WhichOneof("payload") for event in events]


def states(events):
    found = []
    for event in events:
        if event.HasField("task"):
            found.append(event.task.status.state)
        elif event.HasField("status_update"):
            found.append(event.status_update.status.state)
    return found


def test_agent_card_offers_both_versions_on_one_endpoint(server):
    async def scenario():
        async with agent(server, "1.0") as v1, agent(server, "0.3") as v03:
            card = v1.card
            assert card.name == "Word counter"
            assert card.capabilities.streaming
            versions = sorted(i.protocol_version for i in card.supported_interfaces)
            assert versions == ["0.3", "1.0"]
            assert {i.url.rstrip("/") for i in card.supported_interfaces} == {server.url}
            assert isinstance(v1.client._transport, JsonRpcTransport)
            assert isinstance(v03.client._transport, CompatJsonRpcTransport)

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_send_message_returns_the_completed_task(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("count these four words")
            assert task.status.state == TaskState.TASK_STATE_COMPLETED
            assert [get_artifact_text(a) for a in task.artifacts] == ["4 words"]
            assert [m.role for m in task.history] == [Role.ROLE_USER, Role.ROLE_AGENT]
            assert get_message_text(task.history[-1]) == "4 words"
            assert task.history[0].task_id == task.id and task.history[0].context_id == task.context_id

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_input_required_then_the_answer_continues_the_task(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("   ")
            assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            assert get_message_text(task.history[-1]) == "what should I count?"
            task = await a2a.send("one two", task_id=task.id, context_id=task.context_id)
            assert task.status.state == TaskState.TASK_STATE_COMPLETED
            assert len(task.history) == 4
            assert get_message_text(task.history[-1]) == "2 words"

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_non_blocking_send_then_poll_until_completed(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("sleep 0.3", wait=False)
            assert task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
            done = await a2a.until(task.id, TaskState.TASK_STATE_COMPLETED)
            assert [get_artifact_text(a) for a in done.artifacts] == ["slept 0.3 s"]

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_stream_gets_the_updates_in_order_ending_with_the_final_one(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            events = await a2a.stream("sleep 0.2")
            assert kinds(events) == ["task", "status_update", "artifact_update", "status_update"]
            assert states(events) == [
                TaskState.TASK_STATE_SUBMITTED,
                TaskState.TASK_STATE_WORKING,
                TaskState.TASK_STATE_COMPLETED,
            ]
            task_id = events[0].task.id
            assert all(e.status_update.task_id == task_id for e in events if e.HasField("status_update"))
            assert get_artifact_text(events[2].artifact_update.artifact) == "slept 0.2 s"
            assert get_message_text(events[-1].status_update.status.message) == "slept 0.2 s"

    run(scenario())


def test_0_3_stream_marks_only_the_last_status_update_final(server):
    """The compatibility client drops 0.3's `final` flag, so this reads the raw events."""
    message = {
        "kind": "message",
        "messageId": str(uuid.uuid4()),
        "role": "user",
        "parts": [{"kind": "text", "text": "three more words"}],
    }
    request = {"jsonrpc": "2.0", "id": 7, "method": "message/stream", "params": {"message": message}}
    with httpx.stream("POST", server.url + "/", json=request, timeout=TIMEOUT) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    results = [event["result"] for event in events]
    assert all(event["id"] == 7 for event in events)
    assert [r["kind"] for r in results] == ["task", "status-update", "artifact-update", "status-update"]
    assert [r["final"] for r in results if r["kind"] == "status-update"] == [False, True]
    assert results[-1]["status"]["state"] == "completed"


@pytest.mark.parametrize("version", VERSIONS)
def test_cancel_a_long_running_task(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("sleep", wait=False)
            await a2a.until(task.id, TaskState.TASK_STATE_WORKING)
            canceled = await a2a.client.cancel_task(CancelTaskRequest(id=task.id))
            assert canceled.id == task.id
            assert canceled.status.state == TaskState.TASK_STATE_CANCELED
            assert (await a2a.get(task.id)).status.state == TaskState.TASK_STATE_CANCELED
            with pytest.raises(TaskNotCancelableError):
                await a2a.client.cancel_task(CancelTaskRequest(id=task.id))

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_cancel_a_task_that_waits_for_input(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("")
            assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            canceled = await a2a.client.cancel_task(CancelTaskRequest(id=task.id))
            assert canceled.status.state == TaskState.TASK_STATE_CANCELED

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_resending_a_message_id_returns_the_same_task_and_runs_nothing_twice(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            message = a2a.message("count me once")
            first = await a2a.send(message=message)
            again = await a2a.send(message=message)
            assert again.id == first.id and again.context_id == first.context_id
            assert again.status.state == TaskState.TASK_STATE_COMPLETED
            assert len(again.history) == 2 and len(again.artifacts) == 1
            assert again.artifacts[0].artifact_id == first.artifacts[0].artifact_id

            # Resent while the first send is still running: still one task, one run.
            message = a2a.message("sleep 0.3")
            first = await a2a.send(message=message, wait=False)
            again = await a2a.send(message=message, wait=False)
            assert again.id == first.id
            done = await a2a.until(first.id, TaskState.TASK_STATE_COMPLETED)
            assert [m.role for m in done.history] == [Role.ROLE_USER, Role.ROLE_AGENT]
            assert len(done.artifacts) == 1

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_a_message_for_a_finished_task_is_refused(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("done already")
            with pytest.raises(UnsupportedOperationError):
                await a2a.send("more", task_id=task.id)
            assert len((await a2a.get(task.id)).history) == 2

    run(scenario())


class Receiver:
    """A webhook that records what is POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.mark.parametrize("version", VERSIONS)
def test_push_notification_config_set_get_list_delete(server, version):
    receiver = Receiver()

    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("sleep", wait=False)
            config_id = str(uuid.uuid4())
            config = TaskPushNotificationConfig(task_id=task.id, id=config_id, url=receiver.url, token="s3cret")
            created = await a2a.client.create_task_push_notification_config(config)
            assert (created.task_id, created.id, created.url, created.token) == (task.id, config_id, receiver.url, "s3cret")
            got = await a2a.client.get_task_push_notification_config(
                GetTaskPushNotificationConfigRequest(task_id=task.id, id=config_id)
            )
            assert (got.task_id, got.id, got.url, got.token) == (task.id, config_id, receiver.url, "s3cret")
            listed = await a2a.client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task.id)
            )
            assert [c.id for c in listed.configs] == [config_id]

            await a2a.until(task.id, TaskState.TASK_STATE_WORKING)
            await a2a.client.cancel_task(CancelTaskRequest(id=task.id))
            if a2a.card.capabilities.push_notifications:
                deadline = time.monotonic() + TIMEOUT
                while not any("canceled" in json.dumps(body) for _, body in receiver.received):
                    assert time.monotonic() < deadline, f"no canceled notification: {receiver.received}"
                    await asyncio.sleep(0.05)
                headers = [h for h, body in receiver.received if "canceled" in json.dumps(body)][0]
                assert headers.get("authorization") == "Bearer s3cret"

            await a2a.client.delete_task_push_notification_config(
                DeleteTaskPushNotificationConfigRequest(task_id=task.id, id=config_id)
            )
            listed = await a2a.client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task.id)
            )
            assert list(listed.configs) == []
            with pytest.raises(TaskNotFoundError):
                await a2a.client.get_task_push_notification_config(
                    GetTaskPushNotificationConfigRequest(task_id=task.id, id=config_id)
                )

    try:
        run(scenario())
    finally:
        receiver.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_task_is_not_found(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            for task_id in (str(uuid.uuid4()), "no-such-task"):
                with pytest.raises(TaskNotFoundError):
                    await a2a.get(task_id)
                with pytest.raises(TaskNotFoundError):
                    await a2a.client.cancel_task(CancelTaskRequest(id=task_id))
                with pytest.raises(TaskNotFoundError):
                    await a2a.client.list_task_push_notification_configs(
                        ListTaskPushNotificationConfigsRequest(task_id=task_id)
                    )

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_resubscribe_follows_a_running_task_to_its_end(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("sleep 0.3", wait=False)
            events = [e async for e in a2a.streaming.subscribe(SubscribeToTaskRequest(id=task.id))]
            assert kinds(events)[0] == "task" and kinds(events)[-1] == "status_update"
            assert states(events)[-1] == TaskState.TASK_STATE_COMPLETED
            assert any(e.HasField("artifact_update") for e in events)
            with pytest.raises(UnsupportedOperationError):
                _ = [e async for e in a2a.streaming.subscribe(SubscribeToTaskRequest(id=task.id))]

    run(scenario())


@pytest.mark.parametrize("version", VERSIONS)
def test_history_length(server, version):
    async def scenario():
        async with agent(server, version) as a2a:
            task = await a2a.send("a b c", history_length=1)
            assert [m.role for m in task.history] == [Role.ROLE_AGENT]
            assert len((await a2a.get(task.id)).history) == 2
            assert len((await a2a.get(task.id, history_length=1)).history) == 1
            # 1.0: 0 means no history; 0.3 (and Bindu): 0 means all of it.
            expected = 0 if version == "1.0" else 2
            assert len((await a2a.get(task.id, history_length=0)).history) == expected

    run(scenario())


def test_list_tasks_by_context(server):
    """ListTasks is 1.0 only (the 0.3 compatibility client does not have it)."""

    async def scenario():
        async with agent(server, "1.0") as a2a:
            context_id = str(uuid.uuid4())
            first = await a2a.send("one", context_id=context_id)
            second = await a2a.send("two", context_id=context_id)
            listed = await a2a.client.list_tasks(ListTasksRequest(context_id=context_id))
            assert [t.id for t in listed.tasks] == [first.id, second.id]
            assert listed.total_size == 2 and not listed.next_page_token
            assert all(not t.artifacts for t in listed.tasks)
            page = await a2a.client.list_tasks(ListTasksRequest(context_id=context_id, page_size=1))
            assert [t.id for t in page.tasks] == [first.id] and page.next_page_token
            rest = await a2a.client.list_tasks(
                ListTasksRequest(context_id=context_id, page_size=1, page_token=page.next_page_token)
            )
            assert [t.id for t in rest.tasks] == [second.id]

    run(scenario())
