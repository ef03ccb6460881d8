"""Command-line hygiene, from the outside: output paths and extensions, loose policy folders,
`explain` by name, `effective --product`, terminal width and the summary beside `-o`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import METERED, write
from support import run_auditor as run

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "auditor" / "demo" / "contoso-ai-gateway"

UNMETERED = METERED.replace(
    '<llm-emit-token-metric namespace="ai">\n      <dimension name="Subscription ID" />\n'
    "    </llm-emit-token-metric>",
    '<set-backend-service base-url="https://contoso.openai.azure.com/openai" />',
)
BROKEN = "<policies>\n  <inbound>\n    <base />\n  </outbound>\n</policies>\n"
FRAGMENT = METERED.replace("<policies>", "<fragment>").replace("</policies>", "</fragment>")


# --- -o: extensions and paths --------------------------------------------------------------------


def test_an_unknown_extension_is_refused_unless_a_format_is_given(tmp_path: Path) -> None:
    write(tmp_path / "p.xml", METERED)
    refused = run("scan", "p.xml", "-o", "r.weird", cwd=tmp_path)
    assert refused.returncode == 2 and not (tmp_path / "r.weird").exists()
    assert "r.weird: unknown report extension '.weird'" in refused.stderr
    assert "--format" in refused.stderr and "Traceback" not in refused.stderr
    chosen = run("scan", "p.xml", "-o", "r.weird", "--format", "json", cwd=tmp_path)
    assert chosen.returncode in (0, 1), chosen.stderr
    assert json.loads((tmp_path / "r.weird").read_text("utf-8"))["source"]["kind"] == "file"


def test_missing_output_folders_are_made_and_said(tmp_path: Path) -> None:
    write(tmp_path / "p.xml", METERED)
    proc = run("scan", "p.xml", "-o", "new/deeper/r.json", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert "made folder new/deeper" in proc.stderr + proc.stdout
    assert json.loads((tmp_path / "new" / "deeper" / "r.json").read_text("utf-8"))


def test_a_file_in_the_output_path_is_a_plain_error(tmp_path: Path) -> None:
    write(tmp_path / "p.xml", METERED)
    write(tmp_path / "afile", "")
    proc = run("scan", "p.xml", "-o", "afile/r.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "auditor: afile/r.json: afile is a file, not a folder"


def test_text_written_to_a_file_still_prints_the_summary(tmp_path: Path) -> None:
    write(tmp_path / "p.xml", UNMETERED)
    proc = run("scan", "p.xml", "--format", "text", "-o", "r.txt", cwd=tmp_path)
    assert proc.returncode == 1
    written = (tmp_path / "r.txt").read_text("utf-8")
    assert written.startswith("attribution-auditor ")
    assert "Attribution score:" in proc.stdout and "open gap(s)" in proc.stdout
    assert "wrote r.txt" in proc.stderr


# --- terminal width ------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_output_fits_columns(tmp_path: Path, columns: int) -> None:
    proc = run("scan", DEMO, cwd=tmp_path, env={"COLUMNS": str(columns)})
    assert proc.returncode == 1, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    assert max(len(line) for line in lines) <= columns, max(lines, key=len)
    # Nothing is cut: a wrapped line keeps every word.
    joined = " ".join((proc.stdout + proc.stderr).split())
    assert "(--fail-on-unknown fails on them)" in joined
    assert "12 open gap(s) (failing findings of severity medium or higher)" in joined


def test_without_columns_a_pipe_gets_100(tmp_path: Path) -> None:
    proc = run("scan", DEMO, cwd=tmp_path, env={"COLUMNS": ""})
    lines = (proc.stdout + proc.stderr).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert max(len(line) for line in lines) > 80  # the width is used, not a narrow default


# --- loose policy files --------------------------------------------------------------------------


def loose(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    write(folder / "chat.xml", METERED)
    write(folder / "team" / "embeddings.xml", UNMETERED)
    write(folder / "broken.xml", BROKEN)
    write(folder / "frag-meter.xml", FRAGMENT)
    write(folder / "project.csproj.xml", "<Project><PropertyGroup /></Project>\n")
    write(folder / "notes.txt", "not a policy\n")
    return folder


def test_a_folder_of_loose_policy_files_is_one_report(tmp_path: Path) -> None:
    loose(tmp_path)
    proc = run("scan", "policies", "-o", "r.json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # the unmetered API and the unreadable file
    report = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert report["source"]["kind"] == "files"
    names = sorted(a["name"] for a in report["apis"])
    assert names == ["chat", "frag-meter", "team/embeddings"]
    assert all(a["llm"] for a in report["apis"])
    unmetered = next(a for a in report["apis"] if a["name"] == "team/embeddings")
    assert unmetered["signals"]["coverage"] == "fail"
    metered = next(a for a in report["apis"] if a["name"] == "chat")
    assert metered["signals"]["coverage"] != "fail"
    # The broken file is a read error at its line, not an API; the others are still judged.
    unreadable = [f for f in report["findings"] if f["rule"] == "AUD002"]
    assert [f["location"]["path"] for f in unreadable] == ["broken.xml"]
    assert unreadable[0]["location"]["line"] == 4
    assert "1 unreadable input(s)" in " ".join(proc.stderr.split())
    # The fragment is judged as included at the top of its API's inbound.
    assert any("frag-meter.xml is a fragment" in n for n in report["notes"])


def test_source_type_file_on_a_folder_reads_its_policies(tmp_path: Path) -> None:
    loose(tmp_path)
    proc = run("scan", "policies", "--source-type", "file", "--format", "json", cwd=tmp_path)
    assert sorted(a["name"] for a in json.loads(proc.stdout)["apis"]) == [
        "chat",
        "frag-meter",
        "team/embeddings",
    ]


def test_a_folder_with_no_policy_in_it_says_so(tmp_path: Path) -> None:
    write(tmp_path / "other" / "project.xml", "<Project />\n")
    proc = run("scan", "other", cwd=tmp_path)
    assert proc.returncode == 2
    assert "nor policy files (.xml)" in proc.stderr and "Traceback" not in proc.stderr
    typed = run("scan", "other", "--source-type", "file", cwd=tmp_path)
    assert typed.returncode == 2 and "a folder with no policy files" in typed.stderr


# --- explain and effective -----------------------------------------------------------------------


def test_explain_takes_a_rule_name_and_shows_its_example_context(tmp_path: Path) -> None:
    by_name = run("explain", "payer-fallback", cwd=tmp_path)
    assert by_name.returncode == 0
    assert by_name.stdout == run("explain", "IDN003", cwd=tmp_path).stdout
    assert by_name.stdout.startswith("IDN003 payer-fallback")
    assert "Example context" in by_name.stdout and "subscription_required: true" in by_name.stdout


def test_explain_suggests_the_rule_meant(tmp_path: Path) -> None:
    proc = run("explain", "payer-falback", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "did you mean IDN003?" in proc.stderr


@pytest.mark.parametrize(
    ("product", "said"),
    [
        ("nope", "no product 'nope' in the service of API 'chat-finance'"),
        ("partners", "API 'chat-finance' is not in product 'partners'"),
    ],
)
def test_effective_rejects_a_product_the_api_is_not_in(
    tmp_path: Path, product: str, said: str
) -> None:
    proc = run("effective", DEMO, "chat-finance", "--product", product, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert said in proc.stderr
    assert "(its products: team-finance, team-marketing)" in proc.stderr


# --- a scan that could judge nothing says so ------------------------------------------------------

SERVICE = """resource apim 'Microsoft.ApiManagement/service@2023-05-01-preview' = {
  name: 'apim-one'
  location: 'westeurope'
  sku: { name: 'Developer', capacity: 1 }
  properties: { publisherEmail: 'a@b.c', publisherName: 'c' }
}
"""
API = """resource api 'Microsoft.ApiManagement/service/apis@2023-05-01-preview' = {
  parent: apim
  name: 'api'
  properties: { path: PATH, displayName: PATH, serviceUrl: URL, protocols: ['https'] }
}
"""
UNDECIDED = (
    "param apiPath string\nparam backendUrl string\n"
    + SERVICE
    + API.replace("PATH", "apiPath").replace("URL", "backendUrl")
)
NOT_LLM = SERVICE + API.replace("PATH", "'weather'").replace("URL", "'https://weather.example.com'")


@pytest.mark.parametrize(
    ("bicep", "last", "score"),
    [
        (
            UNDECIDED,
            "nothing could be judged: every verdict of the 1 LLM or undecided API(s) is unknown",
            "n/a (every verdict is unknown)",
        ),
        (SERVICE, "nothing could be judged: the source declares no API", None),
        (NOT_LLM, "nothing could be judged: none of the 1 API(s) fronts an LLM", None),
    ],
    ids=["all-unknown", "no-api", "no-llm"],
)
def test_a_scan_that_judged_nothing_says_so_last(
    tmp_path: Path, bicep: str, last: str, score: str | None
) -> None:
    write(tmp_path / "infra" / "main.bicep", bicep)
    proc = run("scan", "infra", "-o", "r.md", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    paragraphs = proc.stderr.strip().split("\n")
    tail = " ".join(" ".join(paragraphs[-2:]).split())
    assert last in tail, proc.stderr
    if score:
        assert f"Attribution score: {score}" in proc.stdout
        # A signal nobody passed or failed has no score, in every view.
        assert "unknown    n/a" in proc.stdout and "0%" not in proc.stdout
        md = (tmp_path / "r.md").read_text("utf-8")
        assert f"Attribution score: {score}" in md and "| coverage | unknown | n/a |" in md
        run("scan", "infra", "-o", "r.html", cwd=tmp_path)
        html = (tmp_path / "r.html").read_text("utf-8")
        assert "<strong>n/a</strong> (every verdict is unknown)" in html
        assert "no verdict (every one is unknown)" in html
