namespace Dynamo.Engine.Model;

/// <summary>
/// One sequence's part of a <see cref="ForwardBatch"/>: tokens [<see cref="FirstToken"/>, +<see cref="TokenCount"/>)
/// at positions starting at <see cref="StartPosition"/>, K/V read and written through <see cref="BlockTable"/>.
/// </summary>
public sealed record BatchSequence(int FirstToken, int TokenCount, int StartPosition, int[] BlockTable, int LogitsRow)
{
    /// <summary>Positions 0..<see cref="ContextLength"/>-1 are attended to by the last token.</summary>
    public int ContextLength => StartPosition + TokenCount;
}
