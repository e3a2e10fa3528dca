namespace Dynamo.Operator.Graph;

/// <summary>A semantic error in a graph: the field (JSON path) and what is wrong, with the fix where there is one.</summary>
public sealed record GraphProblem(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}
