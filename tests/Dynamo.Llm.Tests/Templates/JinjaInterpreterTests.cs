using Dynamo.Llm.Templates;
using Dynamo.Llm.Templates.Jinja;

namespace Dynamo.Llm.Tests.Templates;

public sealed class JinjaInterpreterTests
{
    private static readonly Dictionary<string, object?> s_variables = new()
    {
        ["messages"] = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = "S" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "U1" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "A1" },
        },
        ["name"] = "World",
        ["text"] = "  padded text \n",
        ["n"] = 7L,
        ["items"] = new List<object?> { 3L, 1L, 2L },
        ["empty"] = new List<object?>(),
        ["data"] = new Dictionary<string, object?> { ["a"] = 1L, ["b"] = new List<object?> { true, null, 2.5, "x\"y" } },
    };

    private static string Render(string template) => CompiledTemplate.Compile(template).Render(s_variables);

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ (1 + 2) * 3 }}", "9")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}", "3 -4 1 2")]
    [InlineData("{{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 1.5 + 1 }}", "3.5 2.0 1024 2.5")]
    [InlineData("{{ -n }} {{ n - 10 }}", "-7 -3")]
    [InlineData("{{ 'ab' * 3 }}", "ababab")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ undefined_name ~ true }}", "a1NoneTrue")]
    [InlineData("{{ 'Hello, ' + name + '!' }}", "Hello, World!")]
    [InlineData("{{ [1, 2] + [3] }}", "[1, 2, 3]")]
    [InlineData("{{ none }} {{ true }} {{ False }} {{ undefined_name }}", "None True False ")]
    [InlineData("{{ ['a', \"it's\", 1, none, true] }}", "['a', \"it's\", 1, None, True]")]
    [InlineData("{{ {'k': 'v', 'n': [1]} }}", "{'k': 'v', 'n': [1]}")]
    [InlineData("{{ 'a' 'b' }}", "ab")]
    [InlineData("{{ \"tab\\tnew\\nline\\u00e9\" }}", "tab\tnew\nlineé")]
    public void Expressions_FollowPythonSemantics(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{{ 1 < 2 < 3 }} {{ 3 < 2 < 4 }}", "True False")]
    [InlineData("{{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1, 2] == [1, 2] }}", "True True True")]
    [InlineData("{{ 'orl' in name }} {{ 2 in items }} {{ 'a' in data }} {{ 'z' not in data }}", "True True True True")]
    [InlineData("{{ 0 or 'x' }} {{ 'y' and 0 }} {{ none or [] or 'last' }}", "x 0 last")]
    [InlineData("{{ not 0 }} {{ not name }} {{ not empty }}", "True False True")]
    [InlineData("{{ 'yes' if n > 5 else 'no' }} {{ 'yes' if n > 50 else 'no' }}[{{ 'x' if false }}]", "yes no[]")]
    [InlineData("{{ (messages[0]['role'] == 'user') != (0 % 2 == 0) }}", "True")]
    public void Comparisons_And_Logic(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{{ messages[0]['role'] }} {{ messages[1].content }} {{ messages[-1].role }}", "system U1 assistant")]
    [InlineData("{{ messages[1:] | length }} {{ messages[:1][0].content }} {{ messages[::-1][0].content }}", "2 S A1")]
    [InlineData("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-1] }} {{ items[-2:] }}", "el olleh o [1, 2]")]
    [InlineData("{{ messages[10] is defined }} {{ data.missing is defined }} {{ data.a is defined }}", "False False True")]
    [InlineData("{{ data.b[2] }} {{ data['b'][0] }} {{ data.b.0 }}", "2.5 True True")]
    public void Access_AttributesItemsAndSlices(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("[{{ text | trim }}] [{{ text.strip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ text.lstrip() }}]", "[padded text] [padded text] [a] [padded text \n]")]
    [InlineData("{{ name | upper }} {{ name | lower }} {{ 'hello world' | title }} {{ 'hELLO' | capitalize }}", "WORLD world Hello World Hello")]
    [InlineData("{{ items | length }} {{ name | length }} {{ data | count }}", "3 5 2")]
    [InlineData("{{ items | first }} {{ items | last }} {{ items | sort | join(',') }} {{ items | sort(reverse=true) | list }}", "3 2 1,2,3 [3, 2, 1]")]
    [InlineData("{{ missing | default('fallback') }} {{ '' | default('x', true) }} {{ name | d('no') }}", "fallback x World")]
    [InlineData("{{ messages | map(attribute='role') | join(', ') }}", "system, user, assistant")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}", "['U1']")]
    [InlineData("{{ messages | rejectattr('role', 'in', ['system']) | list | length }}", "2")]
    [InlineData("{{ items | select('odd') | list }} {{ items | reject('odd') | list }}", "[3, 1] [2]")]
    [InlineData("{{ items | sum }} {{ items | min }} {{ items | max }} {{ -3 | abs }}", "6 1 3 3")]
    [InlineData("{{ '42' | int + 1 }} {{ '2.5' | float }} {{ 'x' | int }} {{ 3.7 | int }} {{ 2.567 | round(2) }}", "43 2.5 0 3 2.57")]
    [InlineData("{{ 'a-b-c' | replace('-', '+') }} {{ 'abc' | reverse }} {{ [1, 1, 2] | unique | list }}", "a+b+c cba [1, 2]")]
    [InlineData("{{ data | items | list | length }} {% for k, v in data | items %}{{ k }}{% endfor %}", "2 ab")]
    [InlineData("{{ 'line1\nline2' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}", "line1\n  line2|  a\n  b")]
    [InlineData("{{ '<a & b>' | e }} {{ 5 | string ~ 'x' }}", "&lt;a &amp; b&gt; 5x")]
    public void Filters_Work(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{{ data | tojson }}", "{\"a\": 1, \"b\": [true, null, 2.5, \"x\\\"y\"]}")]
    [InlineData("{{ data | tojson(indent=2) }}", "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null,\n    2.5,\n    \"x\\\"y\"\n  ]\n}")]
    [InlineData("{{ {'é': 'ü\n'} | tojson }} {{ {'é': 1} | tojson(ensure_ascii=true) }}", "{\"é\": \"ü\\n\"} {\"\\u00e9\": 1}")]
    [InlineData("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }} {{ [] | tojson }} {{ {} | tojson }}", "{\"a\": 2, \"b\": 1} [] {}")]
    public void ToJson_MatchesPythonJsonDumps(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{{ name.startswith('Wo') }} {{ name.endswith(('x', 'ld')) }} {{ name.upper() }}", "True True WORLD")]
    [InlineData("{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}", "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a,b', 'c']")]
    [InlineData("{{ 'x'.join(['1', '2']) }} {{ 'banana'.count('an') }} {{ 'banana'.find('n') }} {{ 'aaa'.replace('a', 'b', 2) }}", "1x2 2 2 bba")]
    [InlineData("{{ data.get('a') }} {{ data.get('zz', 'dflt') }} {{ data.keys() | list }} {% for k, v in data.items() %}{{ k }}={{ v | length if v is iterable else v }};{% endfor %}", "1 dflt ['a', 'b'] a=1;b=4;")]
    public void Methods_OnStringsAndDicts(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{{ name is string }} {{ n is number }} {{ n is integer }} {{ 2.5 is float }} {{ none is none }} {{ data is mapping }}", "True True True True True True")]
    [InlineData("{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}", "True False True False")]
    [InlineData("{{ name is not none }} {{ missing is undefined }} {{ missing is not defined }} {{ true is sameas true }}", "True True True True")]
    [InlineData("{{ not missing is defined }} {{ messages[0].content is string and messages[0].role == 'system' }}", "True True")]
    public void Tests_Work(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}", "10TrueFalse33;21FalseFalse32;32FalseTrue31;")]
    [InlineData("{% for m in messages %}{% if not loop.first %}{{ loop.previtem.role }}>{% endif %}{% endfor %}", "system>user>")]
    [InlineData("{% for i in empty %}x{% else %}none{% endfor %}", "none")]
    [InlineData("{% for m in messages if m.role != 'system' %}{{ m.content }}{{ loop.length }}{% endfor %}", "U12A12")]
    [InlineData("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", "0134")]
    [InlineData("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}", "3,7,")]
    [InlineData("{% for c in 'abc' %}{{ loop.cycle('x', 'y') }}{{ c }}{% endfor %}", "xaybxc")]
    [InlineData("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }}", "[0, 1, 2] [1, 3, 5] [3, 2, 1]")]
    public void Loops_Work(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{% set x = 1 %}{% for i in items %}{% set x = i %}{% endfor %}{{ x }}", "1")]
    [InlineData("{% set ns = namespace(x=1) %}{% for i in items %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}", "7")]
    [InlineData("{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12")]
    [InlineData("{% if true %}{% set y = 'in-if' %}{% endif %}{{ y }}", "in-if")]
    [InlineData("{% set messages = messages[1:] %}{{ messages | length }}", "2")]
    [InlineData("{% set block %}captured {{ name }}{% endset %}[{{ block }}]", "[captured World]")]
    [InlineData("{% macro greet(who, punct='!') %}Hi {{ who }}{{ punct }}{% endmacro %}{{ greet(name) }} {{ greet('you', punct='?') }}", "Hi World! Hi you?")]
    [InlineData("{% filter upper %}shout {{ name }}{% endfilter %}", "SHOUT WORLD")]
    [InlineData("{% if n > 10 %}big{% elif n > 5 %}medium{% else %}small{% endif %}", "medium")]
    [InlineData("{% generation %}kept{% endgeneration %}", "kept")]
    public void Statements_And_Scoping(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("a  {%- if true -%}  b  {%- endif -%}  c", "abc")]
    [InlineData("a  {{- name -}}  c", "aWorldc")]
    [InlineData("{% if true %}\nline\n{% endif %}\nend", "line\nend")]
    [InlineData("start\n    {% if true %}\n    indented\n    {% endif %}\nend", "start\n    indented\nend")]
    [InlineData("start\n    {%+ if true %}x{% endif %}", "start\n    x")]
    [InlineData("a {# comment #} b\n{# line comment #}\nc", "a  b\nc")]
    [InlineData("x {{ name }}\ny", "x World\ny")]
    [InlineData("{% raw %}{{ not parsed }}{% endraw %}", "{{ not parsed }}")]
    [InlineData("trailing newline dropped\n", "trailing newline dropped")]
    [InlineData("windows\r\nnewlines", "windows\nnewlines")]
    public void Whitespace_FollowsHuggingFaceSettings(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{% if x %}unclosed", "never closed", 1, 4)]
    [InlineData("line one\n{{ 1 + }}", "unexpected '}}'", 2, 8)]
    [InlineData("{{ x | no_such_filter }}", "no filter named 'no_such_filter'", 1, 8)]
    [InlineData("{% include 'other' %}", "'include' tag is not supported", 1, 4)]
    [InlineData("{{ 'unterminated }}", "unterminated string literal", 1, 4)]
    [InlineData("{% for %}{% endfor %}", "expected a name", 1, 8)]
    [InlineData("ok\n\n  {% endif %}", "unknown tag 'endif'", 3, 6)]
    public void Compile_SyntaxError_NamesLineAndColumn(string template, string message, int line, int column)
    {
        var error = Assert.Throws<TemplateException>(() => CompiledTemplate.Compile(template));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
        Assert.Equal(column, error.Column);
        Assert.Contains($"line {line}, column {column}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ok\n{{ missing + 1 }}", "'missing' is undefined", 2)]
    [InlineData("{{ missing.attr }}", "'missing' is undefined", 1)]
    [InlineData("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str", 1)]
    [InlineData("{{ 1 / 0 }}", "division by zero", 1)]
    [InlineData("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable", 1)]
    [InlineData("{% set x = 5 %}{% set x.y = 1 %}", "non-namespace", 1)]
    [InlineData("{{ name() }}", "'str' object is not callable", 1)]
    public void Render_RuntimeError_NamesPosition(string template, string message, int line)
    {
        var compiled = CompiledTemplate.Compile(template);

        var error = Assert.Throws<TemplateException>(() => compiled.Render(s_variables));

        Assert.IsNotType<TemplateRaisedException>(error);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void RaiseException_ThrowsTemplateRaisedExceptionWithTheMessage()
    {
        var compiled = CompiledTemplate.Compile("first line\n{% if true %}{{ raise_exception('Bad roles: ' + name) }}{% endif %}");

        var error = Assert.Throws<TemplateRaisedException>(() => compiled.Render(s_variables));

        Assert.Equal("Bad roles: World", error.Message);
        Assert.Equal(2, error.RaisedAtLine);
    }

    [Fact]
    public void Macro_InfiniteRecursion_FailsInsteadOfCrashing()
    {
        var compiled = CompiledTemplate.Compile("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");

        var error = Assert.Throws<TemplateException>(() => compiled.Render(s_variables));

        Assert.Contains("nested deeper", error.Message, StringComparison.Ordinal);
    }
}
