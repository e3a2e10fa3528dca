namespace Dynamo.Operator.Api;

/// <summary>What a component runs; the values of <c>spec.components[].type</c>.</summary>
public static class ComponentType
{
    public const string Frontend = "frontend";
    public const string Worker = "worker";
    public const string Prefill = "prefill";
    public const string Decode = "decode";
    public const string Planner = "planner";

    public static IReadOnlyList<string> All { get; } = [Frontend, Worker, Prefill, Decode, Planner];

    /// <summary>Worker types: the pools the planner sizes.</summary>
    public static bool IsWorker(string? type) => type is Worker or Prefill or Decode;

    /// <summary>Types that get a scaling adapter (everything but the planner, which runs once).</summary>
    public static bool IsScalable(string? type) => type is Frontend or Worker or Prefill or Decode;
}
