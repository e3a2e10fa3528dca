namespace Dynamo.Engine.Safetensors;

/// <summary>One tensor's entry in a safetensors header. <see cref="DataOffset"/> is relative to the start of the file.</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDType DType, long[] Shape, long DataOffset, long ByteLength)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public string ShapeText => Shapes.Format(Shape);
}
