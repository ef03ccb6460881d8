"""Identity on JWTs as real gateways handle them, tested from the command line (a single policy
file, JSON report): a validate-jwt inside the ``<when>`` whose other branches reject the call,
and a claim decoded by hand from the payload of the validated token (the shape of
aymenfurter/terraform-apim-openai-example)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import run_auditor, write

REST = "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"

VALIDATE = """<validate-jwt header-name="{header}" failed-validation-httpcode="401">
  <openid-config
    url="https://login.microsoftonline.com/contoso/v2.0/.well-known/openid-configuration" />
  <required-claims>
    <claim name="aud"><value>https://cognitiveservices.azure.com</value></claim>
  </required-claims>
</validate-jwt>"""
AS_JWT_CLAIM = (
    '<set-variable name="user" value="@(context.Request.Headers.GetValueOrDefault('
    "&quot;Authorization&quot;, &quot;&quot;).AsJwt()?.Claims.GetValueOrDefault("
    '&quot;appid&quot;, &quot;unknown&quot;))" />'
)
REJECT = '<return-response><set-status code="401" reason="Unauthorized" /></return-response>'
ROUTE = "@(context.Request.Url.Path.Contains(&quot;/chat/completions&quot;))"
METER_USER = (
    '<llm-emit-token-metric namespace="llm">'
    '<dimension name="User" value="@((string)context.Variables[&quot;user&quot;])" />'
    "</llm-emit-token-metric>"
)

#: The user variable of the real repository: the payload of the Authorization token decoded by
#: hand (split on '.', part 1 base64-decoded, parsed, a property read).
DECODED_CODE = """@{
string jwt = context.Request.Headers.GetValueOrDefault("Authorization", "")
    .Substring("Bearer ".Length);
string[] jwtParts = jwt.Split('.');
string payloadBase64 = jwtParts[1];
int paddingLength = payloadBase64.Length % 4;
if (paddingLength > 0)
{
    payloadBase64 += new string('=', 4 - paddingLength);
}
string payloadJson = Encoding.UTF8.GetString(Convert.FromBase64String(payloadBase64));
JObject payload = JObject.Parse(payloadJson);
// Use "name" if available, otherwise use "appid"
var ignoreCase = StringComparison.OrdinalIgnoreCase;
string identifier = payload.GetValue("name", ignoreCase)?.ToString();
if (string.IsNullOrEmpty(identifier))
{
    identifier = payload.GetValue("appid", ignoreCase)?.ToString() ?? "";
}
return {returned};
}"""
ESCAPED_CODE = DECODED_CODE.replace('"', "&quot;")
DECODED_CLAIM = f'<set-variable name="user" value="{ESCAPED_CODE}" />'


def scan(tmp_path: Path, inbound: str) -> dict[str, Any]:
    policy = f"<policies><inbound><base />{inbound}</inbound>{REST}</policies>"
    write(tmp_path / "policy.xml", policy)
    proc = run_auditor("scan", "policy.xml", "--format", "json", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    return dict(json.loads(proc.stdout))


def identity(report: dict[str, Any]) -> str:
    (api,) = report["apis"]
    return str(api["signals"]["identity"])


def failing(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule and f["status"] == "fail"]


def choose(*branches: str) -> str:
    return f"<choose>{''.join(branches)}</choose>"


def when(body: str, condition: str = ROUTE) -> str:
    return f'<when condition="{condition}">{body}</when>'


def otherwise(body: str) -> str:
    return f"<otherwise>{body}</otherwise>"


AUTH = VALIDATE.format(header="Authorization")


def test_a_validation_in_when_counts_when_otherwise_rejects(tmp_path: Path) -> None:
    report = scan(tmp_path, choose(when(AUTH + AS_JWT_CLAIM), otherwise(REJECT)) + METER_USER)
    assert identity(report) == "pass"
    # The claim cannot be missing from a validated token: its fallback is not reachable.
    assert not failing(report, "IDN002") and not failing(report, "IDN003")


def test_a_sibling_branch_that_validates_the_same_header_counts_too(tmp_path: Path) -> None:
    both = choose(when(AUTH + AS_JWT_CLAIM), otherwise(AUTH + AS_JWT_CLAIM))
    assert identity(scan(tmp_path, both + METER_USER)) == "pass"


def test_an_otherwise_that_goes_on_without_validation_still_fails(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        choose(when(AUTH + AS_JWT_CLAIM), otherwise(AS_JWT_CLAIM)) + METER_USER,
    )
    assert identity(report) == "fail"
    assert {f["severity"] for f in failing(report, "IDN002")} == {"high"}


def test_a_choose_without_otherwise_falls_through_unvalidated(tmp_path: Path) -> None:
    report = scan(tmp_path, choose(when(AUTH)) + AS_JWT_CLAIM + METER_USER)
    assert identity(report) == "fail"
    assert failing(report, "IDN002")


def test_a_sibling_that_validates_another_header_does_not_count(tmp_path: Path) -> None:
    other = VALIDATE.format(header="x-other-token")
    report = scan(tmp_path, choose(when(AUTH), otherwise(other)) + AS_JWT_CLAIM + METER_USER)
    assert failing(report, "IDN002")


def test_a_validating_choose_nested_in_a_branch_that_falls_through_does_not_count(
    tmp_path: Path,
) -> None:
    inner = choose(when(AUTH), otherwise(REJECT))
    condition = "@(context.Request.Headers.ContainsKey(&quot;x-route&quot;))"
    report = scan(tmp_path, choose(when(inner, condition)) + AS_JWT_CLAIM + METER_USER)
    assert failing(report, "IDN002")


def test_a_claim_decoded_from_the_validated_token_is_a_validated_claim(tmp_path: Path) -> None:
    report = scan(tmp_path, AUTH + DECODED_CLAIM.replace("{returned}", "identifier") + METER_USER)
    assert identity(report) == "pass"
    for rule in ("IDN002", "IDN003", "IDN007"):
        assert not failing(report, rule), rule


def test_a_one_line_decoded_claim_is_a_claim_too(tmp_path: Path) -> None:
    one_line = (
        '<set-variable name="user" value="@(JObject.Parse(Encoding.UTF8.GetString('
        "Convert.FromBase64String(context.Request.Headers.GetValueOrDefault("
        "&quot;Authorization&quot;, &quot;&quot;).Split(' ')[1].Split('.')[1])))"
        '[&quot;appid&quot;].ToString())" />'
    )
    assert identity(scan(tmp_path, AUTH + one_line + METER_USER)) == "pass"


def test_a_claim_decoded_from_an_unvalidated_token_is_chosen_by_the_caller(
    tmp_path: Path,
) -> None:
    report = scan(tmp_path, DECODED_CLAIM.replace("{returned}", "identifier") + METER_USER)
    assert {f["severity"] for f in failing(report, "IDN002")} == {"high"}
    assert not failing(report, "IDN007")  # a claim, not the token


def test_the_raw_header_recorded_is_still_a_secret(tmp_path: Path) -> None:
    raw = (
        '<set-variable name="user" value="@(context.Request.Headers.GetValueOrDefault('
        '&quot;Authorization&quot;, &quot;&quot;))" />'
    )
    report = scan(tmp_path, AUTH + raw + METER_USER)
    (secret,) = failing(report, "IDN007")
    assert secret["severity"] == "high" and "raw Authorization header" in secret["message"]


def test_a_decoding_block_that_returns_part_of_the_token_is_still_a_secret(
    tmp_path: Path,
) -> None:
    # The signature (part 2) is given as it is, never decoded.
    leaked = DECODED_CLAIM.replace("{returned}", "identifier + jwtParts[2]")
    report = scan(tmp_path, AUTH + leaked + METER_USER)
    assert failing(report, "IDN007")
    # The token itself, returned beside the decoded claim, too.
    report = scan(tmp_path, AUTH + DECODED_CLAIM.replace("{returned}", "jwt") + METER_USER)
    assert failing(report, "IDN007")


def test_the_shape_of_the_real_gateway_passes(tmp_path: Path) -> None:
    # aymenfurter/terraform-apim-openai-example: validation inside <when>, <otherwise>
    # rejects, the payer decoded by hand, metered by log-to-eventhub.
    record = (
        '<set-variable name="requestBody" value="@(context.Request.Body.As&lt;JObject&gt;('
        'preserveContent: true))" />'
    )
    inbound = choose(
        when(AUTH + DECODED_CLAIM.replace("{returned}", "identifier") + record),
        otherwise(REJECT),
    )
    hub = """<log-to-eventhub logger-id="feed">@{
        JObject response = context.Response.Body.As&lt;JObject&gt;(preserveContent: true);
        return new JObject(
          new JProperty("total_tokens", (int)response["usage"]["total_tokens"]),
          new JProperty("User", (string)context.Variables["user"])
        ).ToString();
    }</log-to-eventhub>"""
    policy = (
        f"<policies><inbound><base />{inbound}</inbound><backend><base /></backend>"
        f"<outbound><base />{hub}</outbound><on-error><base /></on-error></policies>"
    )
    write(tmp_path / "policy.xml", policy)
    proc = run_auditor("scan", "policy.xml", "--format", "json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert identity(report) == "pass", [f["message"] for f in report["findings"]]


# ---------------------------------------------------------------- found by review


def _decoded(*, header: str = "Authorization", tail: str = "", returned: str = "claim") -> str:
    code = f"""@{{
string tok = context.Request.Headers.GetValueOrDefault("{header}", "").Substring(7);
string[] parts = tok.Split('.');
JObject payload = JObject.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(parts[1])));
string claim = (string)payload["oid"];
{tail}
return {returned};
}}"""
    return f'<set-variable name="user" value="{code.replace(chr(34), "&quot;")}" />'


def test_a_decode_of_another_header_beside_a_test_of_the_validated_one_is_not_validated(
    tmp_path: Path,
) -> None:
    # The validated Authorization header is only tested for presence; the payer comes from
    # the unvalidated x-user-token.
    block = _decoded(header="x-user-token").replace(
        "string tok",
        "if (context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;, &quot;&quot;)"
        " == &quot;&quot;) { return &quot;anonymous&quot;; }\nstring tok",
    )
    report = scan(tmp_path, AUTH + block + METER_USER)
    assert identity(report) == "fail"
    assert failing(report, "IDN002")


def test_a_token_that_leaves_through_an_out_argument_or_an_indexer_is_still_recorded(
    tmp_path: Path,
) -> None:
    leak_out = _decoded(returned='claim + "|" + copy').replace(
        "string claim",
        "string[] vals;\ncontext.Request.Headers.TryGetValue(&quot;Authorization&quot;, out vals);"
        "\nstring copy = vals[0];\nstring claim",
    )
    leak_indexer = _decoded(
        tail='var rec = new JObject();\nrec["token"] = tok;', returned="rec.ToString()"
    )
    for name, block in (("out", leak_out), ("indexer", leak_indexer)):
        report = scan(tmp_path / name, AUTH + block + METER_USER)
        assert failing(report, "IDN007"), name


def test_the_decoded_claim_of_the_validated_header_still_passes(tmp_path: Path) -> None:
    assert identity(scan(tmp_path, AUTH + _decoded() + METER_USER)) == "pass"


def test_a_validation_of_a_query_parameter_or_another_header_leaves_authorization_unvalidated(
    tmp_path: Path,
) -> None:
    query = AUTH.replace('header-name="Authorization"', 'query-parameter-name="access_token"')
    other = AUTH.replace(
        'header-name="Authorization"',
        'token-value="@(context.Request.Headers.GetValueOrDefault(&quot;x-other&quot;, '
        '&quot;&quot;))"',
    )
    mine = AUTH.replace(
        'header-name="Authorization"',
        'token-value="@(context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;, '
        '&quot;&quot;).Substring(7))"',
    )
    for name, validate in (("query", query), ("other", other)):
        report = scan(tmp_path / name, validate + AS_JWT_CLAIM + METER_USER)
        assert identity(report) == "fail", name
        assert failing(report, "IDN002"), name
    assert identity(scan(tmp_path / "mine", mine + AS_JWT_CLAIM + METER_USER)) == "pass"
