namespace Dynamo.Llm;

/// <summary>
/// A model folder file (config.json, tokenizer.json, tokenizer_config.json, ...) is missing, unreadable or holds a
/// value this library cannot use. The message starts with the file path and names the key or the problem.
/// </summary>
public sealed class ModelFileException : Exception
{
    public ModelFileException(string filePath, string problem, Exception? innerException = null)
        : base($"{filePath}: {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file the problem is in.</summary>
    public string FilePath { get; }

    /// <summary>The problem, without the file path.</summary>
    public string Problem { get; }
}
