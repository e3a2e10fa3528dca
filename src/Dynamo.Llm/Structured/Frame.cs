namespace Dynamo.Llm.Structured;

/// <summary>
/// One level of a matcher thread: a grammar node, where inside it the bytes are, and the frame to return to when
/// it is done. Immutable, so threads share their parents and copying a state is copying a reference.
/// </summary>
internal sealed class Frame(GrammarNode? node, Frame? parent, int phase, int depth, int a = 0, ulong b = 0, int c = 0, KeyChain? key = null, KeyChain? seenKeys = null)
{
    /// <summary>The value (and whatever surrounds it) is complete: no byte may follow.</summary>
    public static readonly Frame Done = new(null, null, 0, 0);

    public GrammarNode? Node { get; } = node;

    public Frame? Parent { get; } = parent;

    public int Phase { get; } = phase;

    /// <summary>Containers nesting above this frame's value.</summary>
    public int Depth { get; } = depth;

    /// <summary>Per kind: key-trie node or property, item count, character count, digit count, literal-trie node, next part.</summary>
    public int A { get; } = a;

    /// <summary>Objects: the properties seen so far.</summary>
    public ulong B { get; } = b;

    /// <summary>Strings and keys: the UTF-8 sequence in progress (0: at a character boundary).</summary>
    public int C { get; } = c;

    /// <summary>Objects with other keys allowed: the bytes of the key being read, last first.</summary>
    public KeyChain? Key { get; } = key;

    /// <summary>Objects with other keys allowed: the other keys written so far (each a <see cref="KeyChain"/> in <see cref="KeyChain.Value"/>).</summary>
    public KeyChain? SeenKeys { get; } = seenKeys;
}

/// <summary>An immutable list, used both for a key's bytes (last first) and for the keys an object already holds.</summary>
internal sealed class KeyChain(byte value, KeyChain? previous, KeyChain? key = null)
{
    public byte Byte { get; } = value;

    public KeyChain? Previous { get; } = previous;

    /// <summary>In a list of keys: the key.</summary>
    public KeyChain? Value { get; } = key;

    public int Length { get; } = (previous?.Length ?? 0) + 1;

    public static bool SameKey(KeyChain? x, KeyChain? y)
    {
        while (x is not null && y is not null)
        {
            if (ReferenceEquals(x, y))
            {
                return true;
            }

            if (x.Byte != y.Byte || x.Length != y.Length)
            {
                return false;
            }

            x = x.Previous;
            y = y.Previous;
        }

        return x is null && y is null;
    }

    public static bool Contains(KeyChain? keys, KeyChain? key)
    {
        for (var k = keys; k is not null; k = k.Previous)
        {
            if (SameKey(k.Value, key))
            {
                return true;
            }
        }

        return false;
    }
}
