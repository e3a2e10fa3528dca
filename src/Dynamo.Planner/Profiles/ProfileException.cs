namespace Dynamo.Planner.Profiles;

/// <summary>
/// A profile that cannot be used: missing, unreadable, or with a missing or bad field. The message names the
/// file and the field (a JSON path such as <c>decode.itl_ms[2][0]</c>) so a person can fix it; the CLI prints it
/// without a stack trace.
/// </summary>
public sealed class ProfileException : Exception
{
    public ProfileException(string file, string? field, string problem, Exception? inner = null)
        : base(field is null ? $"profile {file}: {problem}" : $"profile {file}: {field}: {problem}", inner)
    {
        File = file;
        Field = field;
    }

    /// <summary>The profile file.</summary>
    public string File { get; }

    /// <summary>The field at fault (JSON path), or null for the file as a whole.</summary>
    public string? Field { get; }
}
