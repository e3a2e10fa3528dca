namespace Dynamo.Engine.Safetensors;

internal static class Shapes
{
    public static string Format(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    public static string Format(IEnumerable<int> shape) => "[" + string.Join(", ", shape) + "]";
}
