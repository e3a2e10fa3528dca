namespace Dynamo.Operator.Api;

/// <summary>The API group, versions, kinds and label keys of the operator's resources, in one place.</summary>
public static class GraphApi
{
    public const string Group = "dynamo.dotnet.dev";
    public const string Version = "v1beta1";
    public const string ApiVersion = Group + "/" + Version;

    public const string GraphKind = "DynamoGraphDeployment";
    public const string GraphPlural = "dynamographdeployments";
    public const string GraphSingular = "dynamographdeployment";
    public const string GraphShortName = "dgd";

    public const string AdapterKind = "DynamoGraphDeploymentScalingAdapter";
    public const string AdapterPlural = "dynamographdeploymentscalingadapters";
    public const string AdapterSingular = "dynamographdeploymentscalingadapter";
    public const string AdapterShortName = "dgdsa";

    /// <summary>Put on every graph while the operator owns it; removed when its objects are released.</summary>
    public const string Finalizer = Group + "/finalizer";

    /// <summary>The field manager and event source of the operator.</summary>
    public const string Manager = "dynamo-operator";

    // Labels on everything the operator creates.
    public const string NameLabel = "app.kubernetes.io/name";
    public const string InstanceLabel = "app.kubernetes.io/instance";
    public const string ComponentLabel = "app.kubernetes.io/component";
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string PartOfValue = "dynamo";
    public const string GraphLabel = Group + "/graph";
    public const string ComponentTypeLabel = Group + "/component-type";

    /// <summary>On the pods an adapter scales: the adapter's name (its status.selector selects on it).</summary>
    public const string AdapterLabel = Group + "/scaling-adapter";

    /// <summary>On an adapter: the graph's replicas last copied into it (a new graph value is copied once, then the adapter rules).</summary>
    public const string GraphReplicasAnnotation = Group + "/graph-replicas";

    /// <summary>On a pod template: a hash of the graph's configuration, so a configuration change rolls the pods.</summary>
    public const string ConfigHashAnnotation = Group + "/config-hash";
}
