"""Reading TensorBoard event files without TensorFlow: TFRecord framing, tensorboardX's protos."""

from __future__ import annotations

import struct
from pathlib import Path


def records(path: Path):
    """The records of a TFRecord file (length, its CRC, data, the data's CRC)."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        yield data[offset + 12: offset + 12 + length]
        offset += 12 + length + 4


def summary_values(path: Path) -> list[tuple[str, int, object]]:
    """(tag, step, value proto) of every summary value in one event file."""
    from tensorboardX.proto.event_pb2 import Event

    return [(v.tag, e.step, v) for e in map(Event.FromString, records(path)) for v in e.summary.value]


def eval_events(directory: Path) -> tuple[dict[str, float], str]:
    """The scalars and the summary text of the evaluation event file in `directory`."""
    (path,) = Path(directory).glob("events.out.tfevents.*.eval")
    values = summary_values(path)
    scalars = {tag: v.simple_value for tag, _, v in values if v.HasField("simple_value")}
    (text,) = [v.tensor.string_val[0].decode() for tag, _, v in values if tag.startswith("eval/summary")]
    return scalars, text
