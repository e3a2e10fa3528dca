namespace Dynamo.Llm.Templates.Jinja;

/// <summary>Template source with a line table, to turn offsets into line and column for error messages.</summary>
internal sealed class SourceText
{
    private readonly int[] _lineStarts;

    public SourceText(string text)
    {
        Text = text;
        var starts = new List<int> { 0 };
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                starts.Add(i + 1);
            }
        }

        _lineStarts = [.. starts];
    }

    public string Text { get; }

    /// <summary>1-based line and column of an offset.</summary>
    public (int Line, int Column) Locate(int position)
    {
        position = Math.Clamp(position, 0, Text.Length);
        var index = Array.BinarySearch(_lineStarts, position);
        var line = index >= 0 ? index : ~index - 1;
        return (line + 1, position - _lineStarts[line] + 1);
    }

    public TemplateException Error(string message, int position)
    {
        var (line, column) = Locate(position);
        return new TemplateException(message, line, column);
    }
}
