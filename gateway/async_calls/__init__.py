"""Async calls: `/async-function/<name>` queued on NATS JetStream, run by the queue consumer.

- `messages`: a queued call as a JetStream message, and a call's status record.
- `broker`: `Broker`, the connection to NATS (`connection`) with one part per job:
  `call_queue` (the calls stream and its consumer), `dead_letters`, `presence` (which
  queue consumers run), `status_store` (each call's status record).
- `enqueue`: the gateway's `/async-function/` handler (202 once JetStream has the call).
- `callbacks`: which callback URLs are allowed.
- `retry`: when and after how long a failed call is tried again (labels, backoff).
- `consumer`: the queue consumer, which runs queued calls through the gateway's `Forwarder`.
- `api`: `/system/async/...`, a call's status by id and the dead-letter queue.

It lives in the gateway's package because the consumer is the gateway's proxy path driven
by a queue: same config, provider, forwarder and image, another command
(`python -m gateway.async_calls`). docs/async.md describes the design.
"""
