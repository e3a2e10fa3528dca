namespace Dynamo.Llm.Templates;

/// <summary>
/// A chat template cannot be compiled (syntax) or rendered (a runtime error such as an undefined variable used in
/// arithmetic). The message names the position in the template when known. Raised at render time it depends on the
/// request's messages, so the gateway answers 400.
/// </summary>
public class TemplateException : Exception
{
    public TemplateException(string message, int? line = null, int? column = null, Exception? innerException = null)
        : base(line is null ? message : $"{message} (template line {line}, column {column})", innerException)
    {
        Line = line;
        Column = column;
    }

    /// <summary>1-based line in the template source, when known.</summary>
    public int? Line { get; }

    /// <summary>1-based column in the template source, when known.</summary>
    public int? Column { get; }
}
