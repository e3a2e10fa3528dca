namespace Dynamo.Engine.Model;

/// <summary>
/// The tokens of one engine step, flattened: prefill chunks of several sequences and one decode token for
/// others all go through the linear layers as one [tokens × hidden] matrix. Sequences hold their tokens
/// contiguously in the order they were added. Reused from step to step to avoid allocation.
/// </summary>
public sealed class ForwardBatch
{
    private int[] _tokens;
    private int[] _positions;
    private int[] _tokenSequence;
    private readonly List<BatchSequence> _sequences = [];

    public ForwardBatch(int tokenCapacity = 256)
    {
        _tokens = new int[tokenCapacity];
        _positions = new int[tokenCapacity];
        _tokenSequence = new int[tokenCapacity];
    }

    public int TokenCount { get; private set; }

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, TokenCount);

    public ReadOnlySpan<int> Positions => _positions.AsSpan(0, TokenCount);

    /// <summary>For each token, the index of its sequence in <see cref="Sequences"/>.</summary>
    public ReadOnlySpan<int> TokenSequence => _tokenSequence.AsSpan(0, TokenCount);

    public IReadOnlyList<BatchSequence> Sequences => _sequences;

    /// <summary>Number of sequences that want logits for their last token this step.</summary>
    public int LogitRows { get; private set; }

    public void Clear()
    {
        TokenCount = 0;
        LogitRows = 0;
        _sequences.Clear();
    }

    /// <summary>
    /// Adds <paramref name="tokens"/> of one sequence, the first at position <paramref name="startPosition"/>.
    /// <paramref name="blockTable"/> must already cover every position up to the last added one; earlier
    /// positions are read from the cache. Returns the logits row, or -1 when <paramref name="wantLogits"/> is false.
    /// </summary>
    public int Add(ReadOnlySpan<int> tokens, int startPosition, int[] blockTable, bool wantLogits)
    {
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("a sequence needs at least one token in the batch", nameof(tokens));
        }

        EnsureCapacity(TokenCount + tokens.Length);
        var index = _sequences.Count;
        var row = wantLogits ? LogitRows++ : -1;
        _sequences.Add(new BatchSequence(TokenCount, tokens.Length, startPosition, blockTable, row));
        for (var i = 0; i < tokens.Length; i++)
        {
            _tokens[TokenCount + i] = tokens[i];
            _positions[TokenCount + i] = startPosition + i;
            _tokenSequence[TokenCount + i] = index;
        }

        TokenCount += tokens.Length;
        return row;
    }

    private void EnsureCapacity(int count)
    {
        if (count <= _tokens.Length)
        {
            return;
        }

        var size = Math.Max(count, _tokens.Length * 2);
        Array.Resize(ref _tokens, size);
        Array.Resize(ref _positions, size);
        Array.Resize(ref _tokenSequence, size);
    }
}
