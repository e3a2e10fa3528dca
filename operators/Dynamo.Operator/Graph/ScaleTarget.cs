namespace Dynamo.Operator.Graph;

/// <summary>
/// What one scaling adapter scales: a single component (ratio 1) or a scaling group (each member's share of a unit).
/// </summary>
/// <param name="AdapterName">The adapter: <c>&lt;graph&gt;-&lt;component&gt;</c> or <c>&lt;graph&gt;-&lt;group&gt;</c>.</param>
/// <param name="Component">The component scaled, or null for a group.</param>
/// <param name="Group">The scaling group scaled, or null for a component.</param>
/// <param name="GraphReplicas">The count the graph itself declares (copied into the adapter when it changes).</param>
/// <param name="MinAvailable">The gang floor in units (groups); 0 for a single component.</param>
/// <param name="Members">Each member component and its pods per unit.</param>
public sealed record ScaleTarget(string AdapterName, string? Component, string? Group, int GraphReplicas, int MinAvailable, IReadOnlyList<(string Component, int Ratio)> Members)
{
    /// <summary>The ratio of one member, 0 when the component is not one.</summary>
    public int RatioOf(string component) => Members.FirstOrDefault(m => m.Component == component).Ratio;
}
