using System.Text;
using Dynamo.Contracts.Engine;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Structured;

/// <summary>Makes the per-sequence <see cref="ITokenConstraint"/> that an <see cref="EngineRequest"/> carries.</summary>
public static class StructuredOutput
{
    /// <summary>Whether constraints can be made for this tokenizer (byte-level tokenizers: the mask needs every token's bytes).</summary>
    public static bool Supports(Tokenizer tokenizer) => Tokenization.TokenByteTable.For(tokenizer) is not null;

    /// <summary>
    /// A fresh constraint for one sequence. The vocabulary trie is built once per tokenizer and shared.
    /// </summary>
    /// <param name="tokenizer">The model's tokenizer (byte-level; see <see cref="Supports"/>).</param>
    /// <param name="vocabSize">The model's vocabulary size (ids past the tokenizer's own are never allowed).</param>
    /// <param name="spec">The grammar and the literals around it.</param>
    /// <param name="eosTokenIds">End-of-sequence tokens: allowed once the output may end.</param>
    /// <exception cref="NotSupportedException">The tokenizer does not expose its tokens' bytes.</exception>
    public static TokenConstraint CreateConstraint(Tokenizer tokenizer, int vocabSize, StructuredOutputSpec spec, IReadOnlyList<int> eosTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        var vocabulary = TokenVocabulary.For(tokenizer, vocabSize)
            ?? throw new NotSupportedException("Structured outputs need a byte-level tokenizer (one whose tokens' bytes are known); this model's is not.");
        return new TokenConstraint(vocabulary, Root(spec), eosTokenIds);
    }

    /// <summary>
    /// A fresh constraint for one sequence that must produce any one of <paramref name="alternatives"/> (tool_choice
    /// "required" over several tools: one prefix + arguments schema + suffix per tool). They are followed side by side
    /// until the bytes tell them apart (their prefixes, typically a tool name).
    /// </summary>
    /// <inheritdoc cref="CreateConstraint(Tokenizer, int, StructuredOutputSpec, IReadOnlyList{int})"/>
    public static TokenConstraint CreateConstraint(Tokenizer tokenizer, int vocabSize, IReadOnlyList<StructuredOutputSpec> alternatives, IReadOnlyList<int> eosTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(alternatives);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        if (alternatives.Count == 0)
        {
            throw new ArgumentException("At least one alternative is needed.", nameof(alternatives));
        }

        var vocabulary = TokenVocabulary.For(tokenizer, vocabSize)
            ?? throw new NotSupportedException("Structured outputs need a byte-level tokenizer (one whose tokens' bytes are known); this model's is not.");
        GrammarNode root = alternatives.Count == 1 ? Root(alternatives[0]) : new AnyOfNode([.. alternatives.Select(Root)]);
        return new TokenConstraint(vocabulary, root, eosTokenIds);
    }

    internal static GrammarNode Root(StructuredOutputSpec spec)
    {
        if (spec.Prefix.Length == 0 && spec.Suffix.Length == 0)
        {
            return spec.Grammar.Root;
        }

        var parts = new List<GrammarNode>(3);
        if (spec.Prefix.Length > 0)
        {
            parts.Add(new LiteralNode(ByteTrie.Build([Encoding.UTF8.GetBytes(spec.Prefix)])));
        }

        parts.Add(spec.Grammar.Root);
        if (spec.Suffix.Length > 0)
        {
            parts.Add(new LiteralNode(ByteTrie.Build([Encoding.UTF8.GetBytes(spec.Suffix)])));
        }

        return new SequenceNode([.. parts]);
    }
}
