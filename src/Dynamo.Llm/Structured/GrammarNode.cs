namespace Dynamo.Llm.Structured;

/// <summary>One node of a compiled output grammar: what a JSON value (or a literal around it) may look like, byte by byte.</summary>
internal abstract class GrammarNode
{
    public abstract GrammarKind Kind { get; }
}

internal enum GrammarKind : byte
{
    Object,
    Array,
    String,
    Number,
    Literal,
    AnyOf,
    Sequence,
}

/// <summary>
/// An object: declared properties (keys in any order, each at most once), the required ones, and what other keys
/// may hold (<see cref="Additional"/>; null: no other keys). Keys are written without escapes.
/// </summary>
internal sealed class ObjectNode : GrammarNode
{
    public override GrammarKind Kind => GrammarKind.Object;

    public string[] Names { get; set; } = [];

    public GrammarNode[] Values { get; set; } = [];

    public ulong Required { get; set; }

    public ulong All => Names.Length == 64 ? ulong.MaxValue : (1UL << Names.Length) - 1;

    public GrammarNode? Additional { get; set; }

    /// <summary>The declared names as a byte trie; each node knows which properties lie below it.</summary>
    public ByteTrie Keys { get; set; } = ByteTrie.Empty;
}

/// <summary>An array of <see cref="Items"/>, between <see cref="Min"/> and <see cref="Max"/> long.</summary>
internal sealed class ArrayNode : GrammarNode
{
    public override GrammarKind Kind => GrammarKind.Array;

    public GrammarNode Items { get; set; } = null!;

    public int Min { get; set; }

    public int Max { get; set; } = int.MaxValue;
}

/// <summary>A string of <see cref="Min"/> to <see cref="Max"/> characters (an escape or a UTF-8 sequence counts one).</summary>
internal sealed class StringNode : GrammarNode
{
    public static readonly StringNode Any = new();

    public override GrammarKind Kind => GrammarKind.String;

    public int Min { get; init; }

    public int Max { get; init; } = int.MaxValue;
}

/// <summary>A JSON number, or an integer (no fraction, no exponent); digit counts are bounded (<see cref="JsonMatcher"/>).</summary>
internal sealed class NumberNode : GrammarNode
{
    public static readonly NumberNode Number = new() { Integer = false };
    public static readonly NumberNode IntegerNumber = new() { Integer = true };

    public override GrammarKind Kind => GrammarKind.Number;

    public bool Integer { get; init; }
}

/// <summary>One of a set of byte strings: enum and const values (compact JSON), true, false, null, or a raw prefix/suffix.</summary>
internal sealed class LiteralNode(ByteTrie literals) : GrammarNode
{
    public override GrammarKind Kind => GrammarKind.Literal;

    public ByteTrie Literals { get; } = literals;
}

/// <summary>Any one of the alternatives (anyOf, type arrays): followed side by side until the bytes tell them apart.</summary>
internal sealed class AnyOfNode(GrammarNode[] alternatives) : GrammarNode
{
    public override GrammarKind Kind => GrammarKind.AnyOf;

    public GrammarNode[] Alternatives { get; set; } = alternatives;
}

/// <summary>The parts one after the other (a literal prefix, the value, a literal suffix).</summary>
internal sealed class SequenceNode(GrammarNode[] parts) : GrammarNode
{
    public override GrammarKind Kind => GrammarKind.Sequence;

    public GrammarNode[] Parts { get; } = parts;
}
