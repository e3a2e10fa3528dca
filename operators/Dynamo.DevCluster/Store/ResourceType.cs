using Dynamo.DevCluster.Schema;

namespace Dynamo.DevCluster.Store;

/// <summary>Where a kind keeps its replica counts, for its <c>/scale</c> subresource.</summary>
/// <param name="SpecReplicasPath">JSON path of the desired replicas, e.g. <c>.spec.replicas</c>.</param>
/// <param name="StatusReplicasPath">JSON path of the observed replicas, e.g. <c>.status.replicas</c>.</param>
/// <param name="LabelSelectorPath">JSON path of the selector string (<c>status.selector</c>), or null.</param>
public sealed record ScaleSubresource(string SpecReplicasPath, string StatusReplicasPath, string? LabelSelectorPath);

/// <summary>An extra column of <c>kubectl get</c> output (a CRD's additionalPrinterColumns).</summary>
public sealed record PrinterColumn(string Name, string Type, string JsonPath, string? Description = null, int Priority = 0, string? Format = null);

/// <summary>One served resource at one version: what discovery lists and what the REST handlers route to.</summary>
public sealed record ResourceType
{
    public required string Group { get; init; }
    public required string Version { get; init; }
    /// <summary>The plural, lower-case resource name in URLs (<c>deployments</c>).</summary>
    public required string Resource { get; init; }
    public required string Kind { get; init; }
    public required string Singular { get; init; }
    public required bool Namespaced { get; init; }
    public string ListKind => Kind + "List";
    public IReadOnlyList<string> ShortNames { get; init; } = [];
    public IReadOnlyList<string> Categories { get; init; } = [];
    /// <summary>True when writes of the main resource keep <c>.status</c> and only <c>/status</c> changes it.</summary>
    public bool HasStatus { get; init; }
    public ScaleSubresource? Scale { get; init; }
    /// <summary>The structural schema objects are validated, defaulted and pruned against (custom resources).</summary>
    public StructuralSchema? Schema { get; init; }
    public IReadOnlyList<PrinterColumn> PrinterColumns { get; init; } = [];
    /// <summary>Sent as a <c>Warning</c> header on every request to this version (a CRD version marked deprecated).</summary>
    public string? DeprecationWarning { get; init; }

    /// <summary>True for resources a CustomResourceDefinition registered.</summary>
    public bool IsCustom { get; init; }
    /// <summary>
    /// Objects of every served version of one group/resource share one store; this names it. Two groups with the
    /// same resource name (v1 events, events.k8s.io events) are separate stores here.
    /// </summary>
    public string StorageKey => Group.Length == 0 ? Resource : $"{Resource}.{Group}";
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";
    public string QualifiedResource => StorageKey;
    public string GroupVersion => ApiVersion;
}
