"""Creating or updating the log's JetStream topology, idempotently (``prestacop setup``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from prestacop.adapters.images import HEADER_ROOM, MAX_IMAGE_BYTES
from prestacop.alerts.snapshot import BUCKET as BOARDS_BUCKET
from prestacop.domain.subjects import (
    ALERTS,
    DRONES,
    HISTORY,
    IMAGES,
    QUARANTINE,
    StreamSpec,
)


@dataclass(frozen=True)
class TopologyOptions:
    """The knobs a deployment sizes on purpose.

    De-duplication ids cost server memory (~175 MiB per million in the window),
    so the bulk streams keep a short window and the alert stream a long one.
    ``replicas`` is 1 on a laptop; 3 on a production cluster.
    """

    replicas: int = 1
    drones_dedup_s: float = 300.0
    alerts_dedup_s: float = 3600.0
    history_dedup_s: float = 120.0
    quarantine_dedup_s: float = 600.0
    images_dedup_s: float = 600.0
    max_msg_bytes: int = 64 * 1024


def stream_configs(opts: TopologyOptions) -> list[StreamConfig]:
    def config(spec: StreamSpec, dedup_s: float, max_msg: int = opts.max_msg_bytes) -> StreamConfig:
        return StreamConfig(
            name=spec.name,
            description=spec.description,
            subjects=list(spec.subjects),
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,  # never drop the log's past to make room
            max_age=0,  # kept forever
            max_msgs=-1,
            max_bytes=-1,
            max_msg_size=max_msg,
            duplicate_window=dedup_s,
            num_replicas=opts.replicas,
            allow_direct=True,
            deny_delete=True,
            deny_purge=True,
        )

    images = dataclasses.replace(
        config(IMAGES, opts.images_dedup_s, MAX_IMAGE_BYTES + HEADER_ROOM),
        max_msgs_per_subject=1,  # write-once: one image per subject, ever,
        discard_new_per_subject=True,  # a second one is refused, not swapped in
        allow_rollup_hdrs=False,
    )
    return [
        config(DRONES, opts.drones_dedup_s),
        config(ALERTS, opts.alerts_dedup_s),
        # the NYPD replay commits atomic batches of up to 1000 events (nats-server 2.12+)
        dataclasses.replace(config(HISTORY, opts.history_dedup_s), allow_atomic=True),
        # a record carries the raw message, base64 at worst: room for 4/3 of the largest
        config(QUARANTINE, opts.quarantine_dedup_s, 2 * opts.max_msg_bytes),
        images,
    ]


async def ensure_topology(
    js: JetStreamContext,
    opts: TopologyOptions | None = None,
    *,
    update: bool = False,
    keep_replicas: bool = False,
) -> list[str]:
    """Create the missing streams (the log and the images); existing ones are kept as they are
    unless ``update`` (``prestacop setup`` only): no program changes a stream's replicas or
    limits as a side effect of starting. ``keep_replicas``: an update leaves each stream's
    replicas as they are (``setup`` without ``--replicas`` must not turn R3 evidence into R1).

    Returns a line per stream saying what was done, for the CLI to print.
    """
    opts = opts or TopologyOptions()
    done: list[str] = []
    for cfg in stream_configs(opts):
        assert cfg.name is not None
        try:
            info = await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
            done.append(f"created stream {cfg.name} {cfg.subjects} R{cfg.num_replicas}")
            continue
        if update:
            if keep_replicas:
                cfg = dataclasses.replace(cfg, num_replicas=info.config.num_replicas)
            await js.update_stream(cfg)
            done.append(f"updated stream {cfg.name} {cfg.subjects} R{cfg.num_replicas}")
        else:
            done.append(f"kept stream {cfg.name} R{info.config.num_replicas}")
    try:
        await js.stream_info(f"KV_{BOARDS_BUCKET}")
        done.append(f"kept key-value bucket {BOARDS_BUCKET}")
    except NotFoundError:
        await js.create_key_value(
            KeyValueConfig(
                BOARDS_BUCKET,
                description="Each force's alert board at a sequence: where a console starts.",
                history=1,
                storage=StorageType.FILE,
                direct=True,  # consoles read their key with a direct get (one permission)
                replicas=opts.replicas,
            )
        )
        done.append(f"created key-value bucket {BOARDS_BUCKET}")
    return done
