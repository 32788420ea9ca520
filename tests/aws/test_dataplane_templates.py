"""The mapping-template subset the local data plane renders
(``sagemeter_sandbox.dataplane.vtl``): each supported construct, and the constructs it refuses
rather than render wrongly."""

from __future__ import annotations

import pytest

from sagemeter_sandbox.dataplane.vtl import (
    TemplateError,
    TemplateInput,
    escape_javascript,
    render,
)

pytestmark = pytest.mark.localaws


def test_supported_constructs_render_and_others_are_refused() -> None:
    given = TemplateInput(
        body='{"a": "x y", "b": [1, 2]}',
        context={
            "requestId": "r-1",
            "requestTimeEpoch": 1700000000000,
            "stage": "prod",
            "resourcePath": "/team-a/falcon",
            "identity.sourceIp": "127.0.0.1",
        },
    )
    cases = {
        "plain # text $ 5 $": "plain # text $ 5 $",
        "$input.body": '{"a": "x y", "b": [1, 2]}',
        "$input.json('$')": '{"a":"x y","b":[1,2]}',
        "${context.stage}/$!context.resourcePath": "prod//team-a/falcon",
        "$context.requestId@$context.requestTimeEpoch": "r-1@1700000000000",
        "from $context.identity.sourceIp": "from 127.0.0.1",
        "$util.urlEncode($input.body)": "%7B%22a%22%3A+%22x+y%22%2C+%22b%22%3A+%5B1%2C+2%5D%7D",
        "$util.urlEncode('a~b*c')": "a%7Eb*c",
        "$util.escapeJavaScript($input.body)": '{\\"a\\": \\"x y\\", \\"b\\": [1, 2]}',
        '$util.escapeJavaScript("it\'s $context.stage")': "it\\'s prod",
        '$util.urlEncode("{""s"":""$context.stage""}")': "%7B%22s%22%3A%22prod%22%7D",
    }
    for template, expected in cases.items():
        assert render(template, given) == expected, template
    for unsupported in (
        "## comment",
        "#foreach($a in $b)#end",
        "#if(1)x#elseif(2)y#end",
        "#if(1)never closed",
        "#end",
        "#set($context.requestOverride.header.x = 'y')",
        "$input.params('x')",
        "$input.path('$.b[0]')",
        "$input.json('$.a')",
        "$stageVariables.x",
        "$context.authorizer.x",
        "$util.urlEncode(5)",
    ):
        with pytest.raises(TemplateError, match="mapping template: "):
            render(unsupported, given)
    with pytest.raises(TemplateError) as caught:
        render("$input.json('$')", TemplateInput("not json", {}))
    assert caught.value.status == 400


def test_escape_javascript_follows_java() -> None:
    # StringEscapeUtils.escapeJavaScript: quotes, backslash and slash escaped, control and
    # non-ASCII characters as \\uXXXX (UTF-16 units).
    assert escape_javascript("a'b\"c\\d/e\n\t") == "a\\'b\\\"c\\\\d\\/e\\n\\t"
    assert escape_javascript("\x01é😀") == "\\u0001\\u00E9\\uD83D\\uDE00"


def test_directives_variables_paths_and_response_overrides() -> None:
    template = """#set($type = $input.path('$.__type'))
    #if($type.contains('Throttling'))
    #set($context.responseOverride.status = 429)
    #set($context.responseOverride.header.Retry-After = '1')
    {"state": "throttled"}
    #else
    {"type": "$type"}
    #end
    """.replace("\n    ", "\n")
    throttled = TemplateInput('{"__type": "ThrottlingException"}', {})
    assert render(template, throttled) == '{"state": "throttled"}\n'
    assert throttled.overrides == {"status": "429", "header.Retry-After": "1"}
    missing = TemplateInput('{"__type": "ParameterNotFound"}', {})
    assert render(template, missing) == '{"type": "ParameterNotFound"}\n'
    assert missing.overrides == {}

    stored = TemplateInput('{"Parameter": {"Value": "{\\"a\\": 1}", "Version": 3}}', {})
    assert render("$input.path('$.Parameter.Value')", stored) == '{"a": 1}'
    assert render("$input.path('$.Parameter.Version')", stored) == "3"
    assert render("[$input.path('$.Parameter.Missing')]", stored) == "[]"
    assert render("$input.path('$')", TemplateInput('{"b": [1]}', {})) == '{"b":[1]}'
    given = TemplateInput(
        "it's {}",
        {"authorizer.claims.sub": "u-1", "identity.apiKeyId": "k-1"},
    )
    assert render("$util.base64Encode($input.body)", given) == "aXQncyB7fQ=="
    assert render("$context.authorizer.claims.sub/$context.identity.apiKeyId", given) == "u-1/k-1"
    assert render("#if($context.identity.apiKeyId != 'k-2')other#end", given) == "other"
    assert render("a #if('')x#{else}y#end b", given) == "a y b"
    # Nothing in a branch not taken is evaluated, however unsupported.
    assert render("#if('false')$stageVariables.x#end!", given) == "!"
