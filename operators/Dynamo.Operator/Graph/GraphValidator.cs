using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dynamo.Operator.Api;

namespace Dynamo.Operator.Graph;

/// <summary>
/// Semantic checks the schema cannot express: duplicate names, unknown scaling-group members, ratios that cannot be
/// met under minAvailable, a planner without the pools it sizes, conflicting NATS settings. The reconciler writes the
/// problems to the Degraded condition and an Event and applies nothing until the spec is fixed; it never crash-loops.
/// The schema's own rules (types, enums, minimum 0) are checked again here for API servers that do not enforce them.
/// </summary>
public static partial class GraphValidator
{
    private const int MaxNameLength = 63;

    /// <param name="graph">The graph.</param>
    /// <param name="adapterReplicas">The scaling adapters' spec.replicas by adapter name, where they exist (their count rules).</param>
    public static IReadOnlyList<GraphProblem> Validate(DynamoGraphDeployment graph, IReadOnlyDictionary<string, int>? adapterReplicas = null)
    {
        var problems = new List<GraphProblem>();
        var spec = graph.Spec;
        var name = graph.Metadata.Name ?? "";
        if (spec.Components is not { Count: > 0 })
        {
            problems.Add(new("spec.components", "at least one component is required (a frontend and a worker, or a frontend, prefill and decode)"));
            return problems;
        }

        var byName = new Dictionary<string, GraphComponent>();
        for (var i = 0; i < spec.Components.Count; i++)
        {
            var c = spec.Components[i];
            var at = $"spec.components[{i}]";
            if (!DnsLabel().IsMatch(c.Name ?? ""))
            {
                problems.Add(new($"{at}.name", $"'{c.Name}' is not a DNS label (lower-case letters, digits and '-')"));
            }
            else if (!byName.TryAdd(c.Name!, c))
            {
                problems.Add(new($"{at}.name", $"'{c.Name}' is used by more than one component; names must be unique"));
            }
            else if (name.Length + 1 + c.Name!.Length > MaxNameLength)
            {
                problems.Add(new($"{at}.name", $"'{name}-{c.Name}' is longer than {MaxNameLength} characters; shorten the graph's or the component's name"));
            }

            if (!ComponentType.All.Contains(c.Type))
            {
                problems.Add(new($"{at}.type", $"unknown component type '{c.Type}': expected {string.Join(", ", ComponentType.All)}"));
            }

            if (c.Replicas is < 0)
            {
                problems.Add(new($"{at}.replicas", $"{c.Replicas} is negative"));
            }

            if (c.Service is not null && c.Type != ComponentType.Frontend)
            {
                problems.Add(new($"{at}.service", "only a frontend has a Service; remove it"));
            }

            if (c.Service is { NodePort: not null } service && service.Type != "NodePort")
            {
                problems.Add(new($"{at}.service.nodePort", $"set with service type '{service.Type ?? "ClusterIP"}'; use type NodePort or remove nodePort"));
            }

            if (c.Type == ComponentType.Planner && c.Replicas is > 1)
            {
                problems.Add(new($"{at}.replicas", $"{c.Replicas} planners would act on the same pools; a planner runs once (replicas 0 or 1)"));
            }

            foreach (var (env, j) in (c.Env ?? []).Select((e, j) => (e, j)))
            {
                if (string.IsNullOrWhiteSpace(env.Name))
                {
                    problems.Add(new($"{at}.env[{j}].name", "is required"));
                }
            }
        }

        var types = spec.Components.GroupBy(c => c.Type).ToDictionary(g => g.Key, g => g.Count());
        int Count(string type) => types.GetValueOrDefault(type);
        foreach (var type in new[] { ComponentType.Worker, ComponentType.Prefill, ComponentType.Decode, ComponentType.Planner })
        {
            if (Count(type) > 1)
            {
                problems.Add(new("spec.components", $"{Count(type)} components of type {type}; a graph has one pool of each type (scale it with replicas)"));
            }
        }

        if (Count(ComponentType.Frontend) == 0)
        {
            problems.Add(new("spec.components", "no frontend: add a component of type frontend (the OpenAI endpoint)"));
        }

        var disagg = Count(ComponentType.Prefill) + Count(ComponentType.Decode) > 0;
        if (disagg && Count(ComponentType.Worker) > 0)
        {
            problems.Add(new("spec.components", "mixes an aggregated worker with prefill/decode components; use either worker, or prefill and decode"));
        }

        if (Count(ComponentType.Prefill) > 0 && Count(ComponentType.Decode) == 0)
        {
            problems.Add(new("spec.components", "a prefill pool without a decode pool: decode workers serve every request in disaggregated mode; add a decode component"));
        }

        if (!disagg && Count(ComponentType.Worker) == 0)
        {
            problems.Add(new("spec.components", "no worker pool: add a worker component (aggregated) or prefill and decode components"));
        }

        if (Count(ComponentType.Planner) > 0)
        {
            if (disagg && (Count(ComponentType.Decode) == 0 || Count(ComponentType.Prefill) == 0))
            {
                problems.Add(new("spec.components", "a planner in disaggregated mode needs a prefill and a decode pool to size; add the missing one"));
            }

            var mode = PlannerMode(spec.Config);
            if (mode is not null && mode != (disagg ? "disagg" : "agg"))
            {
                problems.Add(new("spec.config.planner.mode", $"'{mode}' but the graph is {(disagg ? "disaggregated (prefill and decode)" : "aggregated (worker)")}; remove the key, the operator sets it from the components"));
            }
        }

        if (spec.Model is { Path: not null, Preset: not null })
        {
            problems.Add(new("spec.model", "both path and preset are set; give one"));
        }

        if (spec.Nats is { Managed: true, Url: not null })
        {
            problems.Add(new("spec.nats", "managed: true and a url; give one (url for an existing server)"));
        }
        else if (spec.Nats is { Managed: false, Url: null })
        {
            problems.Add(new("spec.nats.url", "required when managed is false: the URL of an existing NATS server with JetStream"));
        }

        ValidateGroups(spec, byName, adapterReplicas, name, problems);
        return problems;
    }

    private static void ValidateGroups(DynamoGraphDeploymentSpec spec, Dictionary<string, GraphComponent> byName, IReadOnlyDictionary<string, int>? adapterReplicas, string graphName, List<GraphProblem> problems)
    {
        var groupNames = new HashSet<string>();
        var memberOf = new Dictionary<string, string>();
        for (var g = 0; g < (spec.ScalingGroups?.Count ?? 0); g++)
        {
            var group = spec.ScalingGroups![g];
            var at = $"spec.scalingGroups[{g}]";
            if (!groupNames.Add(group.Name))
            {
                problems.Add(new($"{at}.name", $"'{group.Name}' is used by more than one scaling group"));
            }

            if (byName.ContainsKey(group.Name) || group.Name is "config" or "nats" or "cluster-secret")
            {
                problems.Add(new($"{at}.name", $"'{group.Name}' is also the name of a component or of an object the operator creates; its adapter would be named '{graphName}-{group.Name}' too"));
            }

            if (group.Members is not { Count: > 0 })
            {
                problems.Add(new($"{at}.members", "at least one member is required"));
                continue;
            }

            for (var m = 0; m < group.Members.Count; m++)
            {
                var member = group.Members[m];
                if (!byName.TryGetValue(member.Component, out var component))
                {
                    problems.Add(new($"{at}.members[{m}].component", $"unknown component '{member.Component}': expected one of {string.Join(", ", byName.Keys)}"));
                }
                else if (!ComponentType.IsWorker(component.Type))
                {
                    problems.Add(new($"{at}.members[{m}].component", $"'{member.Component}' is a {component.Type}; only worker, prefill and decode components scale in a group"));
                }
                else if (!memberOf.TryAdd(member.Component, group.Name))
                {
                    problems.Add(new($"{at}.members[{m}].component", $"'{member.Component}' is already a member of scaling group '{memberOf[member.Component]}'; a component belongs to one group"));
                }

                if (member.Replicas is < 1)
                {
                    problems.Add(new($"{at}.members[{m}].replicas", $"{member.Replicas}: a member's share of a unit is at least 1"));
                }
            }

            var declared = group.Replicas ?? 1;
            if (declared < 0)
            {
                problems.Add(new($"{at}.replicas", $"{declared} is negative"));
            }

            var floor = group.MinAvailable ?? (declared == 0 ? 0 : 1);
            var effective = adapterReplicas is not null && adapterReplicas.TryGetValue($"{graphName}-{group.Name}", out var scaled) ? scaled : declared;
            if (floor > effective)
            {
                var source = effective == declared ? "replicas" : $"its scaling adapter {graphName}-{group.Name} (spec.replicas)";
                problems.Add(new($"{at}.minAvailable", $"{floor} complete units can never be available with {effective} from {source}: raise replicas to at least {floor} or lower minAvailable"));
            }
        }
    }

    private static string? PlannerMode(JsonObject? config)
    {
        var planner = config?.FirstOrDefault(p => p.Key.Equals("planner", StringComparison.OrdinalIgnoreCase)).Value as JsonObject;
        return planner?.FirstOrDefault(p => p.Key.Equals("mode", StringComparison.OrdinalIgnoreCase)).Value?.ToString();
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
