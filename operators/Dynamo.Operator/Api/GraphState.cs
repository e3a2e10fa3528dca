namespace Dynamo.Operator.Api;

/// <summary>Values of <c>status.state</c> and the condition types of a graph.</summary>
public static class GraphState
{
    public const string Pending = "pending";
    public const string Successful = "successful";
    public const string Failed = "failed";

    public const string Ready = "Ready";
    public const string Progressing = "Progressing";
    public const string Degraded = "Degraded";
}
