namespace Dynamo.Engine.Compute;

/// <summary>cos and sin of position × theta^(-2i/head_dim) for every position and i &lt; head_dim/2, computed in double once.</summary>
public sealed class RopeTable
{
    public RopeTable(int maxPositions, int headDim, float theta)
    {
        MaxPositions = maxPositions;
        Half = headDim / 2;
        Cos = new float[maxPositions * Half];
        Sin = new float[maxPositions * Half];
        for (var p = 0; p < maxPositions; p++)
        {
            for (var i = 0; i < Half; i++)
            {
                var inverseFrequency = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
                var angle = p * inverseFrequency;
                Cos[(p * Half) + i] = (float)Math.Cos(angle);
                Sin[(p * Half) + i] = (float)Math.Sin(angle);
            }
        }
    }

    public int MaxPositions { get; }

    /// <summary>head_dim / 2.</summary>
    public int Half { get; }

    public float[] Cos { get; }

    public float[] Sin { get; }
}
