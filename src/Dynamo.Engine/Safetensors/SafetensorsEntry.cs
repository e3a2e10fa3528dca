namespace Dynamo.Engine.Safetensors;

/// <summary>
/// A tensor to write. <see cref="Fill"/> produces its float values when the writer reaches it, so a large
/// model is written without holding every tensor in memory at once.
/// </summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, int[] Shape, Action<Span<float>> Fill)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public static SafetensorsEntry FromArray(string name, SafetensorsDType dtype, int[] shape, float[] values) =>
        new(name, dtype, shape, span => values.CopyTo(span));
}
