namespace Dynamo.Bench.Traces;

/// <summary>A trace file that cannot be read; the message names the file and, for a bad line, its number.</summary>
public sealed class TraceFormatException : Exception
{
    public TraceFormatException(string path, int? line, string problem, Exception? inner = null)
        : base(line is int n ? $"{path}:{n}: {problem}" : $"{path}: {problem}", inner)
    {
        Path = path;
        Line = line;
    }

    public string Path { get; }

    /// <summary>1-based line number of the bad line, or null for a problem with the whole file.</summary>
    public int? Line { get; }
}
