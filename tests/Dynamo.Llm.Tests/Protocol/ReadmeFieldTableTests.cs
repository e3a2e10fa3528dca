using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

/// <summary>
/// README.md's table of request fields ("Request parameters") is what the parser does: every row's example value is
/// sent to each endpoint, and it is accepted where the row says supported (or accepted, or n/a: skipped) and refused
/// with a 400 naming the field (code <c>unsupported_parameter</c>) where it says refused. A field added to the
/// parser's refusals without a row, or a row that promises what the parser does not do, fails here.
/// </summary>
public sealed class ReadmeFieldTableTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    public static TheoryData<string, string, string, string> Rows()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var (field, chat, completions, chatExample, completionsExample) in Table())
        {
            data.Add(field, "chat", chat, chatExample);
            data.Add(field, "completions", completions, completionsExample);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void EveryRow_BehavesAsTheTableSays(string field, string endpoint, string status, string example)
    {
        var kind = endpoint == "chat" ? RequestKind.Chat : RequestKind.Completion;
        var fields = new Dictionary<string, string>
        {
            ["model"] = "\"tiny\"",
            [kind == RequestKind.Chat ? "messages" : "prompt"] = kind == RequestKind.Chat ? """[{"role":"user","content":"hi"}]""" : "\"hi\"",
        };
        if (field == "stream_options")
        {
            fields["stream"] = "true";
        }

        if (field == "tool_choice" && kind == RequestKind.Chat)
        {
            // A choice that forces a call needs tools to call.
            fields["tools"] = """[{"type":"function","function":{"name":"f","parameters":{}}}]""";
        }

        if (field == "top_logprobs" && kind == RequestKind.Chat)
        {
            // Alternatives need the switch on.
            fields["logprobs"] = "true";
        }

        fields[field] = example;
        var body = Encoding.UTF8.GetBytes("{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}");

        switch (status)
        {
            case "supported" or "supported with limits" or "accepted, no effect" or "n/a":
                OpenAiRequestParser.Parse(kind, body, Limits);
                break;
            case "refused":
                var error = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(kind, body, Limits));
                Assert.Equal((400, field, "unsupported_parameter"), (error.StatusCode, error.Param, error.Code));
                break;
            default:
                Assert.Fail($"README row '{field}': unknown status '{status}' for {endpoint}");
                break;
        }
    }

    [Fact]
    public void TheTable_ListsEveryFieldTheParserRefuses()
    {
        var rows = Table().Select(r => r.Field).ToHashSet();
        Assert.True(rows.Count >= 40, $"only {rows.Count} rows found in README.md's request-parameter table");

        // Fields a row names in its notes ("so are ...") count as listed.
        var readme = File.ReadAllText(ReadmePath());
        foreach (var name in UnsupportedParameters.Names)
        {
            Assert.True(rows.Contains(name) || readme.Contains($"`{name}`", StringComparison.Ordinal), $"'{name}' is refused by the parser but README.md's table does not list it");
        }
    }

    /// <summary>The table's rows; an example cell <c>`x` / `y`</c> holds chat's example and completions' (a field whose type differs).</summary>
    private static IEnumerable<(string Field, string Chat, string Completions, string ChatExample, string CompletionsExample)> Table()
    {
        var inTable = false;
        foreach (var line in File.ReadLines(ReadmePath()))
        {
            if (line.StartsWith('#'))
            {
                inTable = line == "### Request parameters";
                continue;
            }

            if (!inTable || !line.StartsWith("| `", StringComparison.Ordinal))
            {
                continue;
            }

            var cells = line.Trim().Trim('|').Split(" | ").Select(c => c.Trim()).ToArray();
            var examples = cells[3].Split("` / `");
            yield return examples.Length == 2
                ? (cells[0].Trim('`'), cells[1], cells[2], examples[0][1..], examples[1][..^1])
                : (cells[0].Trim('`'), cells[1], cells[2], cells[3][1..^1], cells[3][1..^1]);
        }
    }

    internal static string ReadmePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "README.md");
            if (File.Exists(path) && File.Exists(Path.Combine(dir.FullName, "Dynamo.sln")))
            {
                return path;
            }
        }

        throw new InvalidOperationException("README.md not found above " + AppContext.BaseDirectory);
    }
}
