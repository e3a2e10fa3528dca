namespace Dynamo.Contracts.Engine;

/// <summary>
/// A compiled output grammar (a JSON schema or JSON mode), checked and compiled when the request is parsed. Opaque
/// here; <c>Dynamo.Llm.Structured.JsonGrammar</c> implements it and makes per-sequence <see cref="ITokenConstraint"/>s.
/// </summary>
public interface IOutputGrammar
{
    /// <summary>What the grammar produces, for logs and errors (<c>json_schema 'weather'</c>, <c>json_object</c>).</summary>
    string Description { get; }
}
