using Dynamo.Contracts.Engine;

namespace Dynamo.Engine.Sampling;

/// <summary>Applies a structured-output constraint to a row of logits: every token it does not allow gets −∞.</summary>
internal sealed class TokenMask(int vocabSize)
{
    private readonly ulong[] _allowed = new ulong[(vocabSize + 63) >> 6];

    /// <summary>False when the constraint allows nothing (the output is complete): the sequence must end.</summary>
    public bool Apply(ITokenConstraint constraint, Span<float> logits)
    {
        if (!constraint.FillAllowed(_allowed))
        {
            return false;
        }

        for (var word = 0; word < _allowed.Length; word++)
        {
            var bits = _allowed[word];
            if (bits == ulong.MaxValue)
            {
                continue;
            }

            var start = word << 6;
            var end = Math.Min(start + 64, logits.Length);
            for (var i = start; i < end; i++)
            {
                if ((bits & (1UL << i)) == 0)
                {
                    logits[i] = float.NegativeInfinity;
                }
            }
        }

        return true;
    }
}
