using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

/// <summary>
/// README.md's table of <c>POST /v1/responses</c> fields is what the translator and the chat parser behind it do:
/// each row's example is sent, accepted where the row says so and refused with a 400 naming the field (or a field
/// under it, such as <c>text.format</c>) and code <c>unsupported_parameter</c> where it says refused.
/// </summary>
public sealed class ResponsesFieldTableTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    public static TheoryData<string, string, string> Rows()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (field, status, example) in Table())
        {
            data.Add(field, status, example);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void EveryRow_BehavesAsTheTableSays(string field, string status, string example)
    {
        var fields = new Dictionary<string, string> { ["model"] = "\"tiny\"", ["input"] = "\"hi\"" };
        if (field == "tool_choice")
        {
            // A choice that forces a call needs tools to call.
            fields["tools"] = """[{"type":"function","name":"f","parameters":{}}]""";
        }

        fields[field] = example;
        var body = Encoding.UTF8.GetBytes("{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}");

        switch (status)
        {
            case "supported" or "supported with limits" or "accepted, no effect":
                Serve(body);
                break;
            case "refused":
                var error = Assert.Throws<OpenAiException>(() => Serve(body));
                Assert.Equal((400, "unsupported_parameter"), (error.StatusCode, error.Code));
                Assert.True(error.Param == field || error.Param!.StartsWith(field + ".", StringComparison.Ordinal), $"param '{error.Param}' for row '{field}'");
                break;
            default:
                Assert.Fail($"README row '{field}': unknown status '{status}'");
                break;
        }
    }

    [Fact]
    public void TheTable_HasItsRows()
    {
        var rows = Table().Select(r => r.Field).ToHashSet();
        Assert.True(rows.Count >= 25, $"only {rows.Count} rows found in README.md's /v1/responses table");
        Assert.Contains("input", rows);
        Assert.Contains("previous_response_id", rows);
    }

    // What the gateway does with a body: translate, then parse the chat body, errors named as Responses fields.
    private static void Serve(byte[] body)
    {
        try
        {
            var request = ResponsesRequestTranslator.Translate(body, Limits, id => id == "resp_1" ? "[]"u8.ToArray() : null);
            OpenAiRequestParser.Parse(RequestKind.Chat, request.ChatBody, Limits);
        }
        catch (OpenAiException error)
        {
            throw ResponsesRequestTranslator.MapError(error);
        }
    }

    private static IEnumerable<(string Field, string Status, string Example)> Table()
    {
        var inTable = false;
        foreach (var line in File.ReadLines(ReadmeFieldTableTests.ReadmePath()))
        {
            if (line.StartsWith('#'))
            {
                inTable = line == "#### `POST /v1/responses`";
                continue;
            }

            if (!inTable || !line.StartsWith("| `", StringComparison.Ordinal))
            {
                continue;
            }

            var cells = line.Trim().Trim('|').Split(" | ").Select(c => c.Trim()).ToArray();
            yield return (cells[0].Trim('`'), cells[1], cells[2][1..^1]);
        }
    }
}
