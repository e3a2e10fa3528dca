namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// A render-time error inside the interpreter. The innermost expression or statement that sees it stamps its
/// position; the template boundary turns it into a <see cref="TemplateException"/> with line and column.
/// </summary>
internal sealed class JinjaError : Exception
{
    public JinjaError(string message, bool raisedByTemplate = false)
        : base(message)
    {
        RaisedByTemplate = raisedByTemplate;
    }

    public int Position { get; private set; } = -1;

    /// <summary>From the template's <c>raise_exception</c>.</summary>
    public bool RaisedByTemplate { get; }

    public JinjaError At(int position)
    {
        if (Position < 0)
        {
            Position = position;
        }

        return this;
    }
}
