namespace Dynamo.Llm.Templates;

/// <summary>
/// The template itself rejected the conversation with <c>raise_exception(message)</c> (for example "Conversation roles
/// must alternate user/assistant/user/assistant/..."). <see cref="Exception.Message"/> is the template's own text, fit
/// for the client; the gateway answers 400.
/// </summary>
public sealed class TemplateRaisedException : TemplateException
{
    public TemplateRaisedException(string message, int? line = null, int? column = null)
        : base(message, null, null)
    {
        RaisedAtLine = line;
        RaisedAtColumn = column;
    }

    /// <summary>Line of the <c>raise_exception</c> call, when known.</summary>
    public int? RaisedAtLine { get; }

    /// <summary>Column of the <c>raise_exception</c> call, when known.</summary>
    public int? RaisedAtColumn { get; }
}
