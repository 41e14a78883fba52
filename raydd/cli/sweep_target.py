"""Which sweep `raydd sweep status|stop|resume|best SWEEP` means: SWEEP is a sweep's name, or the
sweep file that started it (its `name:` and `storage:` find it, so a sweep on s3:// needs no
`--storage`). An explicit `--storage` wins over the file's."""

from __future__ import annotations

from pathlib import Path

from raydd.storage import DEFAULT_STORAGE

SWEEP_HELP = "SWEEP is the sweep's name or the sweep file that started it (a .yaml path)."
STORAGE_HELP = f"Storage root of the sweep; default: the sweep file's `storage:`, else {DEFAULT_STORAGE}."


def locate_sweep(target: str, storage: str | None) -> tuple[str, str]:
    """(name, storage root) of the sweep `target` names; a target that is neither a readable sweep
    file nor a sweep name is one ValueError line."""
    from raydd.spec import name_problem

    if name_problem(target) is None:  # a name never holds '.' or '/': it cannot be a path to a .yaml
        return target, storage or DEFAULT_STORAGE
    path = Path(target)
    if not path.is_file():
        why = "is a directory" if path.is_dir() else "no such file"
        raise ValueError(f"{target} is not a sweep file ({why}), and sweep name {name_problem(target)}")
    name, file_storage = _name_and_storage(target)
    return name, storage or file_storage


def _name_and_storage(path: str) -> tuple[str, str]:
    from raydd.spec import SpecError
    from raydd.spec.load import read_name_and_storage

    try:
        return read_name_and_storage(path)
    except SpecError as err:  # one line: the file's problems joined, each already naming its place
        problems = (p.removeprefix(f"{path}: ") for p in err.problems)
        raise ValueError(f"cannot find the sweep of {path}: {'; '.join(problems)}") from None
