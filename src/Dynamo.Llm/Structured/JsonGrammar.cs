using System.Collections.Concurrent;
using System.Text.Json;
using Dynamo.Contracts.Engine;

namespace Dynamo.Llm.Structured;

/// <summary>
/// A compiled output grammar: JSON mode (any object) or a JSON schema (<see cref="JsonSchemaCompiler"/> says which
/// keywords). Immutable and shared: compiled once per schema text and cached (<see cref="FromSchema"/>); every
/// sequence gets its own <see cref="TokenConstraint"/> from it (<see cref="StructuredOutput.CreateConstraint"/>).
/// </summary>
public sealed class JsonGrammar : IOutputGrammar
{
    /// <summary>Compiled schemas kept; when full the cache starts over (compiling is cheap next to a request).</summary>
    public const int CacheCapacity = 256;

    /// <summary>Longest schema text compiled (UTF-16 characters of its JSON).</summary>
    public const int MaxSchemaChars = 64 * 1024;

    private static readonly ConcurrentDictionary<(string Schema, bool Strict), JsonGrammar> s_cache = new();

    private JsonGrammar(GrammarNode root, string description)
    {
        Root = root;
        Description = description;
    }

    /// <summary>JSON mode (<c>response_format: {"type": "json_object"}</c>): any JSON object.</summary>
    public static JsonGrammar JsonObject { get; } = new(JsonSchemaCompiler.AnyObject, "json_object");

    /// <inheritdoc/>
    public string Description { get; }

    internal GrammarNode Root { get; }

    /// <summary>Compiled grammars in the cache (tests).</summary>
    internal static int CachedCount => s_cache.Count;

    /// <summary>The grammar for a JSON schema, compiled or from the cache.</summary>
    /// <param name="schema">The schema (a JSON object).</param>
    /// <param name="strict">OpenAI's strict mode: every object must require all its properties and forbid others.</param>
    /// <param name="name">The schema's name, for <see cref="Description"/>.</param>
    /// <exception cref="SchemaException">The schema uses a keyword that is not supported, breaks the strict rules, is
    /// unsatisfiable, or is too large; the message says which and where.</exception>
    public static JsonGrammar FromSchema(JsonElement schema, bool strict, string? name = null)
    {
        var text = schema.GetRawText();
        if (text.Length > MaxSchemaChars)
        {
            throw new SchemaException($"the schema is {text.Length} characters long; at most {MaxSchemaChars} are supported");
        }

        if (s_cache.TryGetValue((text, strict), out var cached))
        {
            return cached;
        }

        var grammar = new JsonGrammar(JsonSchemaCompiler.Compile(schema, strict), name is null ? "json_schema" : $"json_schema '{name}'");
        if (s_cache.Count >= CacheCapacity)
        {
            s_cache.Clear();
        }

        s_cache[(text, strict)] = grammar;
        return grammar;
    }
}
