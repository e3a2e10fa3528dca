namespace Dynamo.Llm.ToolCalling;

/// <summary>
/// The names of <see cref="ToolCallFormat"/> in configuration (<c>Dynamo:Serve:ToolCallParser</c>), and the detection
/// <c>auto</c> does from a model's chat template.
/// </summary>
public static class ToolCallFormats
{
    /// <summary>The setting that detects the format from the chat template.</summary>
    public const string Auto = "auto";

    /// <summary>The setting that turns tool calling off for the model (requests with tools get 400).</summary>
    public const string None = "none";

    /// <summary>Every accepted setting value.</summary>
    public static IReadOnlyList<string> SettingValues { get; } = [Auto, "hermes", "llama3_json", "mistral", None];

    /// <summary>The configuration name of <paramref name="format"/> (<c>hermes</c>, <c>llama3_json</c>, <c>mistral</c>).</summary>
    public static string Name(ToolCallFormat format) => format switch
    {
        ToolCallFormat.Hermes => "hermes",
        ToolCallFormat.Llama3Json => "llama3_json",
        ToolCallFormat.Mistral => "mistral",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>Whether <paramref name="setting"/> is one of <see cref="SettingValues"/> (case-insensitive).</summary>
    public static bool IsValidSetting(string? setting) =>
        setting is not null && SettingValues.Contains(setting.Trim(), StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The format a model uses, from the setting and its chat template: a named format is taken as it is, <c>none</c>
    /// gives null (no tool calling), and <c>auto</c> (or null) looks for each format's markers in the template text:
    /// <c>&lt;tool_call&gt;</c> (Hermes; the default template has it), <c>[TOOL_CALLS]</c> (Mistral),
    /// <c>&lt;|python_tag|&gt;</c> or a Llama 3 header with <c>"parameters"</c> (Llama 3 JSON). A template that writes
    /// none of them gets null: it does not show the model the tools, so no parser could read the calls.
    /// </summary>
    /// <param name="setting">One of <see cref="SettingValues"/>, or null for auto.</param>
    /// <param name="templateSource">The chat template's Jinja source; null or blank for the default template.</param>
    /// <exception cref="ArgumentException">The setting is not one of <see cref="SettingValues"/>.</exception>
    public static ToolCallFormat? Resolve(string? setting, string? templateSource)
    {
        switch (setting?.Trim().ToLowerInvariant())
        {
            case null or "" or Auto:
                return Detect(templateSource);
            case "hermes":
                return ToolCallFormat.Hermes;
            case "llama3_json":
                return ToolCallFormat.Llama3Json;
            case "mistral":
                return ToolCallFormat.Mistral;
            case None:
                return null;
            default:
                throw new ArgumentException($"Unknown tool-call parser '{setting}'; expected one of {string.Join(", ", SettingValues)}.", nameof(setting));
        }
    }

    /// <summary>The format whose markers <paramref name="templateSource"/> writes (see <see cref="Resolve"/>).</summary>
    public static ToolCallFormat? Detect(string? templateSource)
    {
        var source = string.IsNullOrWhiteSpace(templateSource) ? Templates.ChatTemplate.DefaultTemplate : templateSource;
        if (source.Contains("<tool_call>", StringComparison.Ordinal))
        {
            return ToolCallFormat.Hermes;
        }

        if (source.Contains("[TOOL_CALLS]", StringComparison.Ordinal))
        {
            return ToolCallFormat.Mistral;
        }

        if (source.Contains("<|python_tag|>", StringComparison.Ordinal)
            || (source.Contains("<|start_header_id|>", StringComparison.Ordinal) && source.Contains("\"parameters\"", StringComparison.Ordinal)))
        {
            return ToolCallFormat.Llama3Json;
        }

        return null;
    }
}
