namespace Dynamo.Llm.Structured;

/// <summary>
/// A small immutable trie over byte strings (property names, enum literals). Node 0 is the root; each node knows the
/// index of the string ending there (or -1) and the set of strings below it (the first 64).
/// </summary>
internal sealed class ByteTrie
{
    public static readonly ByteTrie Empty = Build([]);

    private readonly byte[][] _labels;
    private readonly int[][] _next;
    private readonly int[] _terminal;
    private readonly ulong[] _below;

    private ByteTrie(byte[][] labels, int[][] next, int[] terminal, ulong[] below)
    {
        _labels = labels;
        _next = next;
        _terminal = terminal;
        _below = below;
    }

    public static ByteTrie Build(IReadOnlyList<byte[]> strings)
    {
        var labels = new List<List<byte>> { new() };
        var next = new List<List<int>> { new() };
        var terminal = new List<int> { -1 };
        var below = new List<ulong> { 0 };
        for (var s = 0; s < strings.Count; s++)
        {
            var bit = s < 64 ? 1UL << s : 0;
            var node = 0;
            below[0] |= bit;
            foreach (var b in strings[s])
            {
                var i = labels[node].IndexOf(b);
                if (i < 0)
                {
                    labels[node].Add(b);
                    next[node].Add(labels.Count);
                    labels.Add([]);
                    next.Add([]);
                    terminal.Add(-1);
                    below.Add(0);
                    i = labels[node].Count - 1;
                }

                node = next[node][i];
                below[node] |= bit;
            }

            if (terminal[node] < 0)
            {
                terminal[node] = s;
            }
        }

        return new ByteTrie([.. labels.Select(l => l.ToArray())], [.. next.Select(n => n.ToArray())], [.. terminal], [.. below]);
    }

    /// <summary>The child of <paramref name="node"/> along <paramref name="b"/>, or -1.</summary>
    public int Child(int node, byte b)
    {
        var labels = _labels[node];
        for (var i = 0; i < labels.Length; i++)
        {
            if (labels[i] == b)
            {
                return _next[node][i];
            }
        }

        return -1;
    }

    /// <summary>Index of the string that ends at <paramref name="node"/>, or -1.</summary>
    public int Terminal(int node) => _terminal[node];

    public bool HasChildren(int node) => _labels[node].Length > 0;

    /// <summary>Strings (their index bits) that pass through or end at <paramref name="node"/>.</summary>
    public ulong Below(int node) => _below[node];
}
