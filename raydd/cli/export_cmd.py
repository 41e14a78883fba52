"""`raydd export`: a raydd set in another code's layout (DC/DSA/DM, MTT, DD-Ranking, image folder)."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS = ("dc", "mtt", "dd-ranking", "image-folder")


@click.command("export")
@click.argument("set_path", metavar="SET", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="The layout to write.")
@click.option("--out", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="The directory to write into: new, empty, or an earlier export raydd wrote (replaced whole).")
@click.option("--force", is_flag=True,
              help="Replace --out even when it holds files that are not an export raydd wrote (they are removed).")
def export(set_path: Path, fmt: str, out: Path, force: bool) -> None:
    """Write the raydd set SET in another code's layout, ordered by class and normalised as those
    codes train on it, so it can be evaluated there; `raydd evaluate DIR --dataset D` reads each
    layout back as the same set.

    \b
      dc            res_<METHOD>_<DATASET>_<MODEL>_<ipc>ipc.pt, as DatasetCondensation saves it
      mtt           images_best.pt, labels_best.pt (lr_best.pt where learned), as MTT saves it
      dd-ranking    images.pt (labels.pt for soft labels, lr.pt where learned), DD-Ranking's inputs
      image-folder  one sub-folder of PNGs per class (00, 01, ...)

    Each layout also holds raydd-export.json (a `raydd` entry in the .pt for dc) saying that the
    images are normalised and not ZCA-whitened; by it raydd knows its own export, which it replaces
    without --force when the directory holds nothing else. The new export is put in place whole or
    not at all. Example:

    \b
        raydd export runs/dc1 --format mtt --out exports/dc1_mtt
    """
    from raydd.core.artifact import load_synset
    from raydd.core.export import clipped_share, export_set
    from raydd.core.export_out import check_out

    check_out(out, force)  # before reading anything
    synset = load_synset(set_path)
    for path in export_set(synset, fmt, out, force):
        click.echo(str(path))
    clipped = clipped_share(synset) if fmt == "image-folder" else 0.0
    if clipped:
        click.echo(f"warning: {100 * clipped:.2f} % of the pixels lie outside [0, 1] and are clipped in the PNGs; "
                   "the tensor layouts (dc, mtt, dd-ranking) keep them", err=True)
