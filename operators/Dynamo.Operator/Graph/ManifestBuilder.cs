using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Operator.Api;
using k8s;
using k8s.Models;

namespace Dynamo.Operator.Graph;

/// <summary>
/// Builds the objects of one graph from its spec (pure: the same graph, adapter counts and secret give the same
/// objects). Each component becomes a Deployment whose pods run the <c>dynamo</c> CLI with the flags of its role,
/// the configuration from the ConfigMap (<c>envFrom</c>) and the cluster secret from the Secret (<c>secretKeyRef</c>).
/// </summary>
public static class ManifestBuilder
{
    /// <summary>The image of components when neither the component nor the graph names one.</summary>
    public const string DefaultImage = "dynamo:latest";

    public const string SecretKey = "secret";
    public const string ContainerName = "main";

    /// <param name="graph">A graph <see cref="GraphValidator"/> accepts.</param>
    /// <param name="adapterReplicas">The scaling adapters' spec.replicas by adapter name (absent: the graph's count).</param>
    /// <param name="secret">The cluster secret's text (used only when the Secret is created).</param>
    public static GraphManifests Build(DynamoGraphDeployment graph, IReadOnlyDictionary<string, int> adapterReplicas, string secret)
    {
        var topology = new GraphTopology(graph);
        var config = ConfigFlattener.Flatten(graph.Spec.Config);
        var hash = ConfigFlattener.Hash(config);
        var owner = OwnerOf(graph);
        return new GraphManifests
        {
            ConfigMap = new V1ConfigMap
            {
                ApiVersion = "v1",
                Kind = "ConfigMap",
                Metadata = Meta(topology, topology.ConfigMapName, "config", owner),
                Data = new Dictionary<string, string>(config, StringComparer.Ordinal),
            },
            Secret = new V1Secret
            {
                ApiVersion = "v1",
                Kind = "Secret",
                Metadata = Meta(topology, topology.SecretName, "cluster-secret", owner),
                Type = "Opaque",
                Data = new Dictionary<string, byte[]> { [SecretKey] = Encoding.UTF8.GetBytes(secret) },
            },
            NatsStatefulSet = topology.ManagedNats ? NatsStatefulSet(topology, owner) : null,
            NatsService = topology.ManagedNats ? NatsService(topology, owner) : null,
            Deployments = [.. graph.Spec.Components.Select(c => Deployment(topology, c, topology.ReplicasOf(c, adapterReplicas), hash, owner))],
            Services = [.. graph.Spec.Components.Where(c => c.Type == ComponentType.Frontend).Select(c => FrontendService(topology, c, owner))],
            Adapters = [.. topology.Targets.Select(t => Adapter(topology, t, owner))],
        };
    }

    public static V1OwnerReference OwnerOf(DynamoGraphDeployment graph) => new()
    {
        ApiVersion = GraphApi.ApiVersion,
        Kind = GraphApi.GraphKind,
        Name = graph.Metadata.Name,
        Uid = graph.Metadata.Uid,
        Controller = true,
        BlockOwnerDeletion = true,
    };

    /// <summary>The labels every object of the graph carries; <paramref name="component"/> names the part.</summary>
    public static Dictionary<string, string> Labels(GraphTopology topology, string component) => new()
    {
        [GraphApi.NameLabel] = GraphApi.PartOfValue,
        [GraphApi.InstanceLabel] = topology.Name,
        [GraphApi.ComponentLabel] = component,
        [GraphApi.ManagedByLabel] = GraphApi.Manager,
        [GraphApi.GraphLabel] = topology.Name,
    };

    private static V1ObjectMeta Meta(GraphTopology topology, string name, string component, V1OwnerReference owner) => new()
    {
        Name = name,
        NamespaceProperty = topology.Namespace,
        Labels = Labels(topology, component),
        OwnerReferences = [owner],
    };

    private static Dictionary<string, string> Selector(GraphTopology topology, string component) => new()
    {
        [GraphApi.NameLabel] = GraphApi.PartOfValue,
        [GraphApi.InstanceLabel] = topology.Name,
        [GraphApi.ComponentLabel] = component,
    };

    private static V1Deployment Deployment(GraphTopology topology, GraphComponent component, int replicas, string configHash, V1OwnerReference owner)
    {
        var podLabels = Labels(topology, component.Name);
        podLabels[GraphApi.ComponentTypeLabel] = component.Type;
        if (topology.TargetOf(component.Name) is { } target)
        {
            podLabels[GraphApi.AdapterLabel] = target.AdapterName;
        }

        var port = component.Type switch
        {
            ComponentType.Frontend => GraphTopology.FrontendPort,
            ComponentType.Planner => GraphTopology.PlannerMetricsPort,
            _ => GraphTopology.WorkerPort,
        };
        var container = new V1Container
        {
            Name = ContainerName,
            Image = component.Image ?? topology.Graph.Spec.Image ?? DefaultImage,
            Command = ["dynamo"],
            Args = [.. Arguments(topology, component, port), .. component.Args ?? []],
            Env = Environment(topology, component),
            EnvFrom = [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = topology.ConfigMapName } }],
            Ports = [new V1ContainerPort { Name = "http", ContainerPort = port, Protocol = "TCP" }],
            // The worker answers 503 on /health while it drains, so a draining pod leaves the Service at once. The
            // planner serves /live only (it takes no traffic). Probed every second: readiness is what the planner
            // waits for after it scales, and a 5 s period added up to 5 s to every new worker (bench/README, O3).
            ReadinessProbe = new V1Probe
            {
                HttpGet = new V1HTTPGetAction { Path = component.Type == ComponentType.Planner ? "/live" : "/health", Port = "http" },
                PeriodSeconds = 1,
                FailureThreshold = 3,
            },
            LivenessProbe = new V1Probe
            {
                HttpGet = new V1HTTPGetAction { Path = "/live", Port = "http" },
                InitialDelaySeconds = 10,
                PeriodSeconds = 10,
                FailureThreshold = 6,
            },
            Resources = Resources(component.Resources),
        };
        var template = new V1PodTemplateSpec
        {
            Metadata = new V1ObjectMeta
            {
                Labels = podLabels,
                Annotations = new Dictionary<string, string> { [GraphApi.ConfigHashAnnotation] = configHash },
            },
            Spec = new V1PodSpec
            {
                Containers = [container],
                // A worker drains (leaves discovery, finishes its streams) before it stops.
                TerminationGracePeriodSeconds = ComponentType.IsWorker(component.Type) ? 60 : 30,
            },
        };
        if (component.PodTemplate is not null)
        {
            var merged = PodTemplateMerge.Merge(ToJson(template), component.PodTemplate);
            template = KubernetesJson.Deserialize<V1PodTemplateSpec>(merged.ToJsonString());
        }

        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(topology, topology.ObjectName(component.Name), component.Name, owner),
            Spec = new V1DeploymentSpec
            {
                Replicas = replicas,
                Selector = new V1LabelSelector { MatchLabels = Selector(topology, component.Name) },
                Template = template,
            },
        };
    }

    private static List<string> Arguments(GraphTopology topology, GraphComponent component, int port)
    {
        var nats = topology.NatsUrl;
        var args = component.Type switch
        {
            ComponentType.Frontend => new List<string> { "frontend", "--nats", nats, "--host", "$(POD_IP)", "--port", $"{port}" },
            ComponentType.Planner => ["planner", "--connector", "kubernetes", "--graph", topology.Name, "--namespace", topology.Namespace, "--nats", nats,
                "--frontend-metrics", string.Join(",", topology.Graph.Spec.Components.Where(c => c.Type == ComponentType.Frontend)
                    .Select(f => $"http://{topology.ObjectName(f.Name)}.{topology.Namespace}.svc:{f.Service?.Port ?? GraphTopology.FrontendPort}/metrics")),
                "--metrics-host", "$(POD_IP)", "--metrics-port", $"{port}"],
            _ => ["worker", "--role", component.Type == ComponentType.Worker ? "agg" : component.Type, "--nats", nats,
                "--host", "$(POD_IP)", "--port", $"{port}", "--advertised-host", "$(POD_IP)", "--instance-id", "$(POD_NAME)"],
        };
        if (component.Type != ComponentType.Planner && topology.Graph.Spec.Model is { } model)
        {
            if ((model.Path ?? model.Preset) is { } source)
            {
                args.AddRange(["--model", source]);
            }

            if (model.ServedModelName is { } served)
            {
                args.AddRange(["--served-model-name", served]);
            }
        }

        return args;
    }

    private static List<V1EnvVar> Environment(GraphTopology topology, GraphComponent component)
    {
        var env = new List<V1EnvVar>
        {
            new() { Name = "POD_IP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } },
            new() { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
            new() { Name = "POD_NAMESPACE", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } } },
            new() { Name = "DYNAMO__CLUSTER__SECRET", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = topology.SecretName, Key = SecretKey } } },
        };
        if (component.Type == ComponentType.Planner)
        {
            env.Add(new V1EnvVar { Name = "DYNAMO__PLANNER__MODE", Value = topology.Disaggregated ? "disagg" : "agg" });
        }

        foreach (var extra in component.Env ?? [])
        {
            env.Add(extra.ValueFrom is null
                ? new V1EnvVar { Name = extra.Name, Value = extra.Value }
                : new V1EnvVar { Name = extra.Name, ValueFrom = KubernetesJson.Deserialize<V1EnvVarSource>(extra.ValueFrom.ToJsonString()) });
        }

        return env;
    }

    private static V1ResourceRequirements? Resources(ComponentResources? resources) =>
        resources is null ? null : new V1ResourceRequirements
        {
            Requests = resources.Requests is null ? null : new Dictionary<string, ResourceQuantity>(resources.Requests),
            Limits = resources.Limits is null ? null : new Dictionary<string, ResourceQuantity>(resources.Limits),
        };

    private static V1Service FrontendService(GraphTopology topology, GraphComponent frontend, V1OwnerReference owner)
    {
        var service = frontend.Service;
        return new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = Meta(topology, topology.ObjectName(frontend.Name), frontend.Name, owner),
            Spec = new V1ServiceSpec
            {
                Type = service?.Type ?? "ClusterIP",
                Selector = Selector(topology, frontend.Name),
                Ports =
                [
                    new V1ServicePort
                    {
                        Name = "http",
                        Port = service?.Port ?? GraphTopology.FrontendPort,
                        TargetPort = "http",
                        Protocol = "TCP",
                        NodePort = service?.Type == "NodePort" ? service.NodePort : null,
                    },
                ],
            },
        };
    }

    private static V1StatefulSet NatsStatefulSet(GraphTopology topology, V1OwnerReference owner)
    {
        var labels = Labels(topology, "nats");
        return new V1StatefulSet
        {
            ApiVersion = "apps/v1",
            Kind = "StatefulSet",
            Metadata = Meta(topology, topology.NatsName, "nats", owner),
            Spec = new V1StatefulSetSpec
            {
                ServiceName = topology.NatsName,
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = Selector(topology, "nats") },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = new V1PodSpec
                    {
                        Containers =
                        [
                            new V1Container
                            {
                                Name = ContainerName,
                                Image = topology.Graph.Spec.Nats?.Image ?? GraphTopology.DefaultNatsImage,
                                Command = ["nats-server"],
                                Args = ["--jetstream", "--store_dir", "/data", "--addr", "$(POD_IP)", "--port", $"{GraphTopology.NatsPort}", "--http_port", $"{GraphTopology.NatsMonitorPort}"],
                                Env = [new V1EnvVar { Name = "POD_IP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } }],
                                Ports =
                                [
                                    new V1ContainerPort { Name = "client", ContainerPort = GraphTopology.NatsPort, Protocol = "TCP" },
                                    new V1ContainerPort { Name = "monitor", ContainerPort = GraphTopology.NatsMonitorPort, Protocol = "TCP" },
                                ],
                                ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = "monitor" }, PeriodSeconds = 5 },
                                VolumeMounts = [new V1VolumeMount { Name = "data", MountPath = "/data" }],
                            },
                        ],
                        Volumes = [new V1Volume { Name = "data", EmptyDir = new V1EmptyDirVolumeSource() }],
                    },
                },
            },
        };
    }

    private static V1Service NatsService(GraphTopology topology, V1OwnerReference owner) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(topology, topology.NatsName, "nats", owner),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            Selector = Selector(topology, "nats"),
            Ports = [new V1ServicePort { Name = "client", Port = GraphTopology.NatsPort, TargetPort = "client", Protocol = "TCP" }],
        },
    };

    private static DynamoGraphDeploymentScalingAdapter Adapter(GraphTopology topology, ScaleTarget target, V1OwnerReference owner)
    {
        var meta = Meta(topology, target.AdapterName, target.Component ?? target.Group!, owner);
        meta.Annotations = new Dictionary<string, string> { [GraphApi.GraphReplicasAnnotation] = $"{target.GraphReplicas}" };
        return new DynamoGraphDeploymentScalingAdapter
        {
            Metadata = meta,
            Spec = new ScalingAdapterSpec
            {
                Replicas = target.GraphReplicas,
                DgdRef = new GraphTarget { Name = topology.Name, Component = target.Component, ScalingGroup = target.Group },
            },
        };
    }

    public static JsonObject ToJson(object value) => (JsonObject)JsonNode.Parse(KubernetesJson.Serialize(value))!;
}
