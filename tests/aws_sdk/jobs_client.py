#!/usr/bin/env python3
"""An independent Jobs client: AWS's own device SDK (awsiotsdk) against the bench cloud.

Driven by tests/aws_sdk_jobs.rs. The thing must have two QUEUED jobs (--jobs A,B). Every
reply is parsed by the SDK's own models; stdout is one JSON object of what they held, which
the Rust test asserts on. Any failure prints {"error": ...} and exits 1.

Phase "classic" (IotJobsClient, one subscription per reply topic): GetPendingJobExecutions,
DescribeJobExecution $next, StartNextPendingJobExecution, UpdateJobExecution IN_PROGRESS
then SUCCEEDED (which makes B next: NextJobExecutionChanged), and an over-long clientToken,
whose rejection must carry the token. Phase "v2" (IotJobsClientV2, request-response
correlated by clientToken): DescribeJobExecution B, StartNext, UpdateJobExecution SUCCEEDED,
and the NextJobExecutionChanged stream seeing the queue empty.
"""

import argparse
import datetime
import json
import queue
import sys
import traceback

from awscrt import mqtt, mqtt_request_response
from awsiot import ServiceStreamOptions, iotjobs, mqtt_connection_builder

QOS = mqtt.QoS.AT_LEAST_ONCE


def plain(value):
    """A model object as JSON data: its slots, recursively; datetimes as epoch seconds."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "__slots__"):
        return {k: plain(getattr(value, k)) for k in value.__slots__ if getattr(value, k) is not None}
    return value


def connect(args, suffix=""):
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint=args.endpoint,
        port=args.port,
        cert_filepath=args.cert,
        pri_key_filepath=args.key,
        ca_filepath=args.ca,
        client_id=args.thing + suffix,
        clean_session=True,
        keep_alive_secs=30,
    )
    conn.connect().result(args.timeout)
    return conn


class Inbox:
    """Replies as the SDK delivers them (already modeled), waited for with a deadline."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.items = queue.Queue()

    def callback(self, name):
        return lambda reply: self.items.put((name, reply))

    def wait(self, name, match=lambda reply: True):
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.timeout)
        skipped = []
        while True:
            left = (deadline - datetime.datetime.now()).total_seconds()
            try:
                got, reply = self.items.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise TimeoutError(
                    f"no {name} within {self.timeout}s (got meanwhile: {[n for n, _ in skipped]})"
                ) from None
            if got == name and match(reply):
                for item in skipped:
                    self.items.put(item)
                return reply
            skipped.append((got, reply))


def classic(args, job_a, job_b):
    conn = connect(args)
    jobs = iotjobs.IotJobsClient(conn)
    inbox = Inbox(args.timeout)
    thing = args.thing
    out = {}

    subscriptions = [
        (jobs.subscribe_to_get_pending_job_executions_accepted,
         iotjobs.GetPendingJobExecutionsSubscriptionRequest(thing_name=thing), "get_pending"),
        (jobs.subscribe_to_get_pending_job_executions_rejected,
         iotjobs.GetPendingJobExecutionsSubscriptionRequest(thing_name=thing), "get_pending_rejected"),
        (jobs.subscribe_to_describe_job_execution_accepted,
         iotjobs.DescribeJobExecutionSubscriptionRequest(thing_name=thing, job_id="$next"), "describe_next"),
        (jobs.subscribe_to_describe_job_execution_rejected,
         iotjobs.DescribeJobExecutionSubscriptionRequest(thing_name=thing, job_id="$next"), "describe_next_rejected"),
        (jobs.subscribe_to_start_next_pending_job_execution_accepted,
         iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing), "start_next"),
        (jobs.subscribe_to_start_next_pending_job_execution_rejected,
         iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing), "start_next_rejected"),
        (jobs.subscribe_to_update_job_execution_accepted,
         iotjobs.UpdateJobExecutionSubscriptionRequest(thing_name=thing, job_id=job_a), "update"),
        (jobs.subscribe_to_update_job_execution_rejected,
         iotjobs.UpdateJobExecutionSubscriptionRequest(thing_name=thing, job_id=job_a), "update_rejected"),
        (jobs.subscribe_to_next_job_execution_changed_events,
         iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing), "next_changed"),
    ]
    for subscribe, request, name in subscriptions:
        future, _topic = subscribe(request=request, qos=QOS, callback=inbox.callback(name))
        future.result(args.timeout)

    def token_is(token):
        return lambda reply: reply.client_token == token

    jobs.publish_get_pending_job_executions(
        iotjobs.GetPendingJobExecutionsRequest(thing_name=thing, client_token="pending-1"), QOS
    ).result(args.timeout)
    out["get_pending"] = plain(inbox.wait("get_pending", token_is("pending-1")))

    jobs.publish_describe_job_execution(
        iotjobs.DescribeJobExecutionRequest(
            thing_name=thing, job_id="$next", include_job_document=True, client_token="describe-1"
        ),
        QOS,
    ).result(args.timeout)
    out["describe_next"] = plain(inbox.wait("describe_next", token_is("describe-1")))

    jobs.publish_start_next_pending_job_execution(
        iotjobs.StartNextPendingJobExecutionRequest(
            thing_name=thing, client_token="start-1", status_details={"step": "starting"}
        ),
        QOS,
    ).result(args.timeout)
    out["start_next"] = plain(inbox.wait("start_next", token_is("start-1")))

    updates = []
    for status, token in ((iotjobs.JobStatus.IN_PROGRESS, "update-1"), (iotjobs.JobStatus.SUCCEEDED, "update-2")):
        jobs.publish_update_job_execution(
            iotjobs.UpdateJobExecutionRequest(
                thing_name=thing,
                job_id=job_a,
                status=status,
                status_details={"step": status.lower()},
                include_job_execution_state=True,
                client_token=token,
            ),
            QOS,
        ).result(args.timeout)
        updates.append(plain(inbox.wait("update", token_is(token))))
    out["updates"] = updates
    # A's end makes B the next execution.
    out["next_changed"] = plain(
        inbox.wait("next_changed", lambda e: e.execution is not None and e.execution.job_id == job_b)
    )

    # AWS: a clientToken is at most 64 characters; the refusal still carries it.
    long_token = "t" * 65
    jobs.publish_describe_job_execution(
        iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="$next", client_token=long_token),
        QOS,
    ).result(args.timeout)
    out["over_long_token"] = plain(inbox.wait("describe_next_rejected", token_is(long_token)))
    out["over_long_token_sent"] = long_token

    conn.disconnect().result(args.timeout)
    return out


def v2(args, job_b):
    conn = connect(args)
    options = mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=4,
        max_streaming_subscriptions=2,
        operation_timeout_in_seconds=int(args.timeout),
    )
    jobs = iotjobs.IotJobsClientV2(conn, options)
    thing = args.thing
    inbox = Inbox(args.timeout)
    out = {}

    subscribed = queue.Queue()
    stream = jobs.create_next_job_execution_changed_stream(
        iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
        ServiceStreamOptions(
            incoming_event_listener=inbox.callback("next_changed"),
            subscription_status_listener=lambda event: subscribed.put(event.type),
        ),
    )
    stream.open()
    established = subscribed.get(timeout=args.timeout)
    if established != mqtt_request_response.SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED:
        raise RuntimeError(f"NextJobExecutionChanged stream: {established}")

    out["describe"] = plain(
        jobs.describe_job_execution(
            iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id=job_b, include_job_document=True)
        ).result(args.timeout)
    )
    out["start_next"] = plain(
        jobs.start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)
        ).result(args.timeout)
    )
    out["update"] = plain(
        jobs.update_job_execution(
            iotjobs.UpdateJobExecutionRequest(
                thing_name=thing,
                job_id=job_b,
                status=iotjobs.JobStatus.SUCCEEDED,
                include_job_execution_state=True,
            )
        ).result(args.timeout)
    )
    # B's end empties the queue: an event without an execution.
    out["next_changed"] = plain(inbox.wait("next_changed", lambda e: e.execution is None))
    out["get_pending"] = plain(
        jobs.get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)
        ).result(args.timeout)
    )
    del stream  # the SDK closes a stream when it is collected
    conn.disconnect().result(args.timeout)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--thing", required=True)
    parser.add_argument("--jobs", required=True, help="A,B: two QUEUED jobs of the thing, A first")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    job_a, job_b = args.jobs.split(",")
    result = {}
    try:
        result["classic"] = classic(args, job_a, job_b)
        result["v2"] = v2(args, job_b)
    except Exception as e:  # reported to the Rust test with what was done so far
        inner = getattr(e, "inner_error", None)
        modeled = plain(getattr(e, "modeled_error", None))
        result["error"] = f"{type(e).__name__}: {e} (inner: {inner!r}, modeled: {modeled})"
        result["traceback"] = traceback.format_exc()
        print(json.dumps(result))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
