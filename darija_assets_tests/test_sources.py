"""The source registry as a user meets it: names that must be partition keys (case 19),
a sources file with mistakes in it, and the errors that reach the command line.

Source names become Dagster partition keys, file names under the data directory and
parts of UI URLs; a bad entry in $DARIJA_SOURCES must be refused alone, with a message
naming it and the file, never by taking the code location (and the built-in sources)
down. The last tests run `dagster asset materialize` for real, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from darija_assets.sources import (
    BUILTIN_SOURCES,
    SOURCES_ENV,
    SourceError,
    load_registry,
    name_problem,
)
from darija_assets.storage import DATA_DIR_ENV, Layout
from darija_assets_tests import REPO_ROOT

CASE_19 = (
    Path(__file__).resolve().parents[2] / "shared" / "cases" / "19_dagster_partition_key_chars"
)
BUILTIN_NAMES = {s.name for s in BUILTIN_SOURCES}


def _registry(tmp_path: Path, entries) -> tuple:
    file = tmp_path / "sources.json"
    file.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return load_registry({SOURCES_ENV: str(file), DATA_DIR_ENV: str(tmp_path / "data")}), str(file)


def _only_problem(registry) -> str:
    assert len(registry.problems) == 1, registry.problems
    return registry.problems[0]


# --- case 19: the three names, through the registry -------------------------------------


@pytest.mark.skipif(not CASE_19.is_dir(), reason="the shared cases are not on this machine")
@pytest.mark.parametrize(
    ("sources_file", "name", "reason"),
    [
        ("sources_slash.json", "wa/2024", "'/'"),
        ("sources_ellipsis.json", "wa...old", "'...'"),
    ],
)
def test_case_19_names_dagster_cannot_keep_are_rejected_alone(tmp_path, sources_file, name, reason):
    file = CASE_19 / sources_file
    registry = load_registry({SOURCES_ENV: str(file), DATA_DIR_ENV: str(tmp_path)})
    message = _only_problem(registry)
    assert f"entry 1 ({name!r})" in message and str(file) in message and reason in message
    assert set(registry.sources) == BUILTIN_NAMES
    assert registry.partition_keys() == ["sample", "9esa"]
    with pytest.raises(SourceError, match="rejected"):
        registry.get(name)


@pytest.mark.skipif(not CASE_19.is_dir(), reason="the shared cases are not on this machine")
def test_case_19_arabic_name_with_a_space_works(tmp_path):
    file = CASE_19 / "sources_arabic_space.json"
    registry = load_registry({SOURCES_ENV: str(file), DATA_DIR_ENV: str(tmp_path)})
    assert registry.problems == []
    source = registry.get("دردشة العائلة")
    # the relative path is read from the folder of the sources file
    assert source.path == str((CASE_19 / "chat.txt").resolve())
    dg.StaticPartitionsDefinition(registry.partition_keys())


# --- the whole kind: every name the registry accepts is safe everywhere a name goes -------


def _candidate_names() -> list[str]:
    """``a<c>b`` for every BMP character c, plus names shaped like the usual mistakes."""
    singles = [f"a{chr(code)}b" for code in range(0x20, 0x10000) if not 0xD800 <= code < 0xE000]
    shaped = ["wa..old", "wa....old", " wa", "wa ", ".wa", "..", "wa\u200f", "\u0633\u0654\u0644"]
    return singles + shaped


def test_every_accepted_name_is_a_dagster_key_and_one_file_under_the_data_directory(tmp_path):
    accepted = [name for name in _candidate_names() if name_problem(name) is None]
    assert "a\u0628b" in accepted and "a\u0661b" in accepted and "a b" in accepted
    dg.StaticPartitionsDefinition(accepted)
    dg.MultiPartitionsDefinition(
        {
            "source": dg.StaticPartitionsDefinition(accepted),
            "model": dg.StaticPartitionsDefinition(["tiny"]),
        }
    )
    tables = tmp_path / "tables" / "raw_corpus"
    layout = Layout(tmp_path)
    for name in accepted:
        path = layout.table("raw_corpus", name)
        assert path.parent == tables and path.name == f"{name}.parquet", name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("wa/2024", "'/'"),
        ("wa\\2024", "'/'"),
        ("wa...old", "'...'"),
        ("wa\told", "control character"),
        ("wa|old", "multi-partition"),
        ("wa,old", "multi-partition"),
        ("[wa]", "multi-partition"),
        (" wa", "whitespace"),
        ("..", "'.'"),
        (".wa", "'.'"),
        ("wa\u200fold", "U+200F"),  # a bidi mark: invisible in the UI
        ("wa\u00a0old", "U+00A0"),  # NBSP looks like a space
        ("\u0633\u0627\u0654\u0644", "NFC"),  # decomposed hamza
        ("wa:old", "U+003A"),
        ("", "non-empty"),
        ("x" * 65, "64"),
    ],
)
def test_name_problem_names_the_reason(name, reason):
    problem = name_problem(name)
    assert problem is not None and reason in problem


def test_names_in_any_script_are_accepted():
    for name in ("wa_2024", "wa-2024.old", "دردشة العائلة", "قصص ٢٠٢٤", "qesa 9esa"):
        assert name_problem(name) is None, name


# --- a sources file with mistakes: each entry judged alone --------------------------------


def test_a_bad_entry_leaves_the_builtins_and_the_good_entries(tmp_path):
    registry, file = _registry(
        tmp_path,
        [
            {"name": "posts", "kind": "file", "path": "posts.jsonl", "text_field": "body"},
            {"name": "typo", "kind": "file", "path": "posts.jsonl", "txt_field": "body"},
            {"name": "wa...old", "kind": "file", "path": "chat.txt"},
            {"name": "chat", "kind": "file", "path": "chat.txt", "date_order": "MDY"},
        ],
    )
    assert set(registry.sources) == BUILTIN_NAMES | {"posts", "chat"}
    assert registry.sources["posts"].extra == {"text_field": "body"}
    assert registry.sources["posts"].path == str(tmp_path / "posts.jsonl")
    assert registry.sources["chat"].extra == {"date_order": "MDY"}
    assert len(registry.problems) == 2
    typo = registry.problems[0]
    assert f"{file}: entry 2 ('typo')" in typo
    assert "txt_field" in typo and "did you mean 'text_field'" in typo
    for known in ("path", "format", "text_field", "date_order"):
        assert known in typo
    # a rejected name that is a valid key stays a partition that fails with the reason
    assert registry.partition_keys() == ["sample", "9esa", "posts", "chat", "typo"]
    with pytest.raises(SourceError, match="txt_field"):
        registry.get("typo")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"name": "w", "kind": "webb", "path": "x"}, "'kind' must be one of"),
        ({"name": "w", "path": "x"}, "'kind' must be one of"),
        ({"name": "w", "kind": "sample"}, "built-in bundled site"),
        ({"name": "w", "kind": "file"}, "needs a 'path'"),
        ({"name": "w", "kind": "file", "path": "x", "format": "xml"}, "unknown format 'xml'"),
        ({"name": "w", "kind": "file", "path": "x", "date_order": "YMD"}, "date_order"),
        ({"name": "w", "kind": "file", "path": "x", "text_field": 3}, "must be a str"),
        ({"name": "w", "kind": "file", "path": "x", "format": "csv", "fmt": "csv"}, "not both"),
        ({"name": "w", "kind": "file", "path": "x", "start_url": "http://a"}, "unknown fields"),
        ({"name": "w", "kind": "web", "start_url": "ftp://a"}, "needs a 'start_url'"),
        ({"name": "w", "kind": "web", "start_url": "https://a", "profile": "nope"}, "not found"),
        ({"name": "sample", "kind": "file", "path": "x"}, "built-in source"),
        ({"kind": "file", "path": "x"}, "non-empty string"),
        (["w", "file"], "a JSON list, not an object"),
    ],
)
def test_each_kind_of_bad_entry_is_rejected_with_its_reason(tmp_path, entry, reason):
    registry, file = _registry(tmp_path, [entry])
    message = _only_problem(registry)
    assert message.startswith(f"{SOURCES_ENV}={file}: entry 1") and reason in message
    assert set(registry.sources) == BUILTIN_NAMES


def test_a_duplicate_name_rejects_every_entry_of_it(tmp_path):
    registry, _ = _registry(
        tmp_path,
        [
            {"name": "wa", "kind": "file", "path": "a.txt"},
            {"name": "wa", "kind": "file", "path": "b.txt"},
        ],
    )
    assert "wa" not in registry.sources and len(registry.problems) == 2
    assert all("declared more than once (entries [1, 2])" in p for p in registry.problems)
    assert registry.partition_keys() == ["sample", "9esa", "wa"]
    with pytest.raises(SourceError, match="more than once"):
        registry.get("wa")


def test_top_level_options_and_the_older_extra_object_mean_the_same(tmp_path):
    registry, _ = _registry(
        tmp_path,
        [
            {
                "name": "new",
                "kind": "file",
                "path": "p.jsonl",
                "format": "jsonl",
                "text_field": "b",
            },
            {
                "name": "old",
                "kind": "file",
                "path": "p.jsonl",
                "extra": {"fmt": "jsonl", "text_field": "b"},
            },
            {
                "name": "both",
                "kind": "file",
                "path": "p.jsonl",
                "text_field": "b",
                "extra": {"text_field": "c"},
            },
        ],
    )
    assert (
        registry.sources["new"].extra
        == registry.sources["old"].extra
        == {
            "fmt": "jsonl",
            "text_field": "b",
        }
    )
    assert "given both at the top level and in 'extra'" in _only_problem(registry)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            '[{"name": "a", "kind": "file", "path": "x"},]',
            "not valid JSON (Expecting value at line 1",
        ),
        ('{"name": "a", "kind": "file", "path": "x"}', "must hold a JSON list"),
        (None, "cannot read it"),
    ],
)
def test_a_sources_file_that_cannot_be_read_is_one_error_and_the_builtins_load(
    tmp_path, content, reason
):
    file = tmp_path / "sources.json"
    if content is not None:
        file.write_text(content, encoding="utf-8")
    registry = load_registry({SOURCES_ENV: str(file), DATA_DIR_ENV: str(tmp_path / "data")})
    message = _only_problem(registry)
    assert message.startswith(f"{SOURCES_ENV}={file}: ") and reason in message
    assert set(registry.sources) == BUILTIN_NAMES
    with pytest.raises(SourceError, match="unknown source 'c1'.*" + reason.split(" (")[0]):
        registry.get("c1")


def test_an_unknown_source_says_where_file_sources_are_declared(tmp_path):
    with pytest.raises(SourceError, match=r"\$DARIJA_SOURCES is not set in this process"):
        load_registry({DATA_DIR_ENV: str(tmp_path / "data")}).get("c1")
    registry, file = _registry(tmp_path, [])
    with pytest.raises(SourceError, match=f"{SOURCES_ENV}={file} declares no source of that name"):
        registry.get("c1")


def test_a_materialized_source_that_is_not_declared_says_sources_are_forgotten(tmp_path):
    tables = tmp_path / "data" / "tables" / "raw_corpus"
    tables.mkdir(parents=True)
    for name in ("sample", "c1"):
        (tables / f"{name}.parquet").write_bytes(b"")
    environ = {DATA_DIR_ENV: str(tmp_path / "data")}

    forgotten = load_registry(environ)
    message = _only_problem(forgotten)
    assert "source 'c1' has a raw_corpus table" in message
    assert "$DARIJA_SOURCES is not set in this process" in message
    assert "left out of therapy_pairs" in message
    with pytest.raises(SourceError, match="source 'c1' has a raw_corpus table"):
        forgotten.get("c1")

    declared, _ = _registry(tmp_path, [{"name": "c1", "kind": "file", "path": "c1.txt"}])
    assert declared.problems == [] and "c1" in declared.sources


# --- the code location and the command line ----------------------------------------------


def _env(tmp_path: Path, sources: Path | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DARIJA_DATA_DIR": str(tmp_path / "data"),
    }
    for key in ("GEMINI_API_KEY", "GROQ_API_KEY", SOURCES_ENV):
        env.pop(key, None)
    if sources is not None:
        env[SOURCES_ENV] = str(sources)
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    return env


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _materialize(tmp_path: Path, sources: Path, select: str, partition: str):
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "darija_assets"]
    command += ["--select", select, "--partition", partition]
    return _run(command, _env(tmp_path, sources), tmp_path)


def test_the_code_location_loads_with_bad_entries_and_keeps_the_builtins(tmp_path):
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps(
            [
                {"name": "wa...old", "kind": "file", "path": "chat.txt"},
                {"name": "posts", "kind": "file", "path": "posts.jsonl", "text_field": "body"},
                {"name": "typo", "kind": "file", "path": "chat.txt", "formt": "txt"},
            ]
        )
    )
    probe = (
        "import json, dagster as dg; from darija_assets.definitions import defs; "
        "node = defs.resolve_asset_graph().get(dg.AssetKey('raw_corpus')); "
        "print(json.dumps([node.partitions_def.get_partition_keys(), node.description]))"
    )
    done = _run([sys.executable, "-c", probe], _env(tmp_path, sources), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    keys, description = json.loads(done.stdout)
    assert keys == ["sample", "9esa", "posts", "typo"]
    # the UI shows the asset's description: the refused name is listed there
    assert f"{sources}: entry 1 ('wa...old') rejected" in description
    assert f"{sources}: entry 1 ('wa...old') rejected" in done.stderr
    assert "did you mean 'format'" in done.stderr


@pytest.mark.slow
def test_the_sources_command_lists_rejections_and_fails(tmp_path):
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps([{"name": "wa/2024", "kind": "file", "path": "chat.txt"}]))
    cli = [sys.executable, "-m", "darija_assets.cli", "sources"]
    done = _run(cli, _env(tmp_path, sources), tmp_path)
    assert done.returncode == 1
    assert "sample\tsample" in done.stdout and "entry 1 ('wa/2024') rejected: '/'" in done.stdout
    clean = _run(cli, _env(tmp_path, None), tmp_path)
    assert clean.returncode == 0 and "not set: built-in sources only" in clean.stdout
    # a declared file that is not there is listed, and fails the command too
    sources.write_text(json.dumps([{"name": "gone", "kind": "file", "path": "gone.jsonl"}]))
    missing = _run(cli, _env(tmp_path, sources), tmp_path)
    assert missing.returncode == 1 and "gone.jsonl [file not found]" in missing.stdout


@pytest.mark.slow
def test_a_top_level_text_field_imports_through_the_cli(tmp_path):
    rows = [
        {"body": "واش كاين شي جديد فالخدمة؟ راني تعبت بزاف هاد السيمانة", "title": "سؤال"},
        {"body": "الحمد لله، كلشي مزيان والعائلة لاباس عليها", "title": "جواب"},
    ]
    (tmp_path / "posts.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps([{"name": "posts", "kind": "file", "path": "posts.jsonl", "text_field": "body"}])
    )
    done = _materialize(tmp_path, sources, "raw_corpus,clean_text,sentences", "posts")
    assert done.returncode == 0, done.stderr[-3000:]
    layout = Layout(tmp_path / "data")
    corpus = pl.read_parquet(layout.table("raw_corpus", "posts"))
    assert corpus["raw_text"].to_list() == [r["body"] for r in rows]
    assert corpus["title"].to_list() == ["سؤال", "جواب"]
    assert pl.read_parquet(layout.table("sentences", "posts")).height >= 2

    # the next shell forgets DARIJA_SOURCES: Dagster refuses the key, the load said why
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "darija_assets"]
    forgot = _run(
        command + ["--select", "raw_corpus", "--partition", "posts"], _env(tmp_path, None), tmp_path
    )
    assert forgot.returncode != 0
    assert "source 'posts' has a raw_corpus table" in forgot.stderr
    assert "$DARIJA_SOURCES is not set in this process" in forgot.stderr


@pytest.mark.slow
def test_an_import_where_every_row_is_quarantined_fails_with_the_reasons(tmp_path):
    (tmp_path / "bad.jsonl").write_text(
        '{"text": 1}\nnot json\n{"body": "x"}\n[1]\n{"text": null}\n', encoding="utf-8"
    )
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps([{"name": "bad", "kind": "file", "path": "bad.jsonl"}]))
    done = _materialize(tmp_path, sources, "raw_corpus", "bad")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "raw_corpus kept no row: all 5 were quarantined" in output
    assert "3 x no string field 'text' (e.g. line 1, line 3, line 5)" in output
    assert "1 x invalid JSON (Expecting value at column N) (e.g. line 2)" in output
    assert "1 x a JSON list, not an object (e.g. line 4)" in output
    assert "has no chapters" not in output
    quarantine = pl.read_parquet(Layout(tmp_path / "data").quarantine("raw_corpus", "bad"))
    assert quarantine.height == 5


@pytest.mark.slow
def test_text_that_cleans_to_nothing_fails_clean_text_with_the_reasons(tmp_path):
    (tmp_path / "links.txt").write_text(
        "https://example.com/a\n\nhttps://example.com/b\n\n<br> https://example.com/c\n",
        encoding="utf-8",
    )
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps([{"name": "links", "kind": "file", "path": "links.txt"}]))
    done = _materialize(tmp_path, sources, "raw_corpus,clean_text", "links")
    assert done.returncode != 0
    assert "clean_text kept no row: all 3 were quarantined" in done.stdout + done.stderr


@pytest.mark.slow
def test_materializing_a_rejected_entry_says_why(tmp_path):
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps([{"name": "typo", "kind": "file", "path": "p.jsonl", "txt_field": "body"}])
    )
    done = _materialize(tmp_path, sources, "raw_corpus", "typo")
    assert done.returncode != 0
    assert f"SourceError: {SOURCES_ENV}={sources}: entry 1 ('typo') rejected" in done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not CASE_19.is_dir(), reason="the shared cases are not on this machine")
def test_case_19_through_the_cli(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(CASE_19, case)
    done = _materialize(
        tmp_path,
        case / "sources_arabic_space.json",
        "raw_corpus,clean_text,sentences",
        "دردشة العائلة",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    layout = Layout(tmp_path / "data")
    assert layout.table("sentences", "دردشة العائلة").is_file()
    assert pl.read_parquet(layout.table("raw_corpus", "دردشة العائلة")).height > 0

    for file, name in (("sources_slash.json", "wa/2024"), ("sources_ellipsis.json", "wa...old")):
        done = _materialize(tmp_path, case / file, "raw_corpus", name)
        assert done.returncode != 0
        # Dagster refuses the key itself; the load already said which entry and why
        assert f"{case / file}: entry 1 ({name!r}) rejected" in done.stderr
        assert not (tmp_path / "data" / "tables" / "raw_corpus" / "wa").exists()
