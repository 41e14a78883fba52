"""docs/schema.md shows the schema that rows are written with, column for column."""

from pathlib import Path

import pyarrow as pa
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.results.schema import FIELDS, RESULT_SCHEMA
from raydd.results.schema_doc import columns_markdown, generated_block, type_name

PAGE = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


def test_page_holds_the_table_the_schema_renders():
    block = generated_block(PAGE.read_text())
    assert block is not None, "docs/schema.md lost its generated-table markers"
    assert block == columns_markdown(), "docs/schema.md is stale: paste `raydd list columns` between its markers"


def test_table_names_every_written_column_in_order_with_its_nullability():
    body = columns_markdown().splitlines()[2:]
    assert [line.split("|")[1].strip(" `") for line in body] == list(RESULT_SCHEMA.names)
    for line, field in zip(body, RESULT_SCHEMA):
        assert line.split("|")[3].strip() == ("yes" if field.nullable else "no")


def test_every_column_says_what_it_means():
    assert all(len(c.meaning) > 10 for c in FIELDS)


def test_type_names_read_as_the_arrow_types():
    assert type_name("pool", pa.string()) == "string (JSON object)"
    assert type_name("created_at", pa.timestamp("us", tz="UTC")) == "timestamp[us, UTC]"
    assert type_name("ipc", pa.int32()) == "int32"


def test_a_page_without_markers_is_told_apart():
    assert generated_block("# no table here\n") is None


def test_list_columns_prints_the_table():
    out = CliRunner().invoke(cli, ["list", "columns"])
    assert out.exit_code == 0
    assert out.output == columns_markdown()
