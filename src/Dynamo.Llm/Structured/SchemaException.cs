namespace Dynamo.Llm.Structured;

/// <summary>A JSON schema this server cannot (or must not) constrain output to: the message names the keyword and where it is.</summary>
public sealed class SchemaException : Exception
{
    public SchemaException(string message)
        : base(message)
    {
    }

    public SchemaException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public SchemaException()
    {
    }
}
