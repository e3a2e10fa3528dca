using Dynamo.Operator.Graph;
using Dynamo.Operator.Tests.Infrastructure;

namespace Dynamo.Operator.Tests;

public sealed class GraphValidatorTests
{
    private static IReadOnlyList<GraphProblem> Validate(string spec, IReadOnlyDictionary<string, int>? adapters = null) =>
        GraphValidator.Validate(TestGraphs.Parse($"""
            apiVersion: dynamo.dotnet.dev/v1beta1
            kind: DynamoGraphDeployment
            metadata:
              name: g
            spec:
            {spec}
            """), adapters);

    private static void AssertProblem(IReadOnlyList<GraphProblem> problems, string field, string words)
    {
        Assert.Contains(problems, p => p.Field == field && p.Message.Contains(words, StringComparison.Ordinal));
    }

    [Fact]
    public void Examples_AreValid()
    {
        Assert.Empty(GraphValidator.Validate(TestGraphs.Load(TestGraphs.AggPath)));
        Assert.Empty(GraphValidator.Validate(TestGraphs.Load(TestGraphs.DisaggPath)));
        Assert.Empty(GraphValidator.Validate(TestGraphs.Load(TestGraphs.GroupPath)));
    }

    [Fact]
    public void DuplicateComponentNames_AreNamed()
    {
        var problems = Validate("""
              components:
              - {name: frontend, type: frontend}
              - {name: worker, type: worker}
              - {name: worker, type: worker}
            """);
        AssertProblem(problems, "spec.components[2].name", "'worker' is used by more than one component");
    }

    [Fact]
    public void UnknownTypeAndNegativeReplicas_AreNamed()
    {
        var problems = Validate("""
              components:
              - {name: frontend, type: frontend}
              - {name: worker, type: worker, replicas: -1}
              - {name: gpu, type: trainer}
            """);
        AssertProblem(problems, "spec.components[1].replicas", "-1 is negative");
        AssertProblem(problems, "spec.components[2].type", "unknown component type 'trainer'");
    }

    [Fact]
    public void PlannerWithoutDecodePoolInDisagg_IsRejected()
    {
        var problems = Validate("""
              components:
              - {name: frontend, type: frontend}
              - {name: prefill, type: prefill}
              - {name: planner, type: planner}
            """);
        AssertProblem(problems, "spec.components", "a planner in disaggregated mode needs a prefill and a decode pool");
        AssertProblem(problems, "spec.components", "a prefill pool without a decode pool");
    }

    [Fact]
    public void UnknownScalingGroupMember_IsNamed()
    {
        var problems = Validate("""
              components:
              - {name: frontend, type: frontend}
              - {name: prefill, type: prefill}
              - {name: decode, type: decode}
              scalingGroups:
              - name: pd
                members:
                - {component: prefill}
                - {component: decoder}
            """);
        AssertProblem(problems, "spec.scalingGroups[0].members[1].component", "unknown component 'decoder'");
    }

    [Fact]
    public void RatioBelowMinAvailable_IsRejected_FromTheSpecAndFromTheAdapter()
    {
        const string spec = """
              components:
              - {name: frontend, type: frontend}
              - {name: prefill, type: prefill}
              - {name: decode, type: decode}
              scalingGroups:
              - name: pd
                replicas: 3
                minAvailable: 2
                members:
                - {component: prefill, replicas: 1}
                - {component: decode, replicas: 2}
            """;
        Assert.Empty(Validate(spec));
        AssertProblem(Validate(spec.Replace("replicas: 3", "replicas: 1")), "spec.scalingGroups[0].minAvailable", "2 complete units can never be available with 1 from replicas");
        AssertProblem(Validate(spec, new Dictionary<string, int> { ["g-pd"] = 1 }), "spec.scalingGroups[0].minAvailable", "from its scaling adapter g-pd");
    }

    [Fact]
    public void FrontendAndPlannerComponentsCannotJoinAScalingGroup()
    {
        var problems = Validate("""
              components:
              - {name: frontend, type: frontend}
              - {name: worker, type: worker}
              scalingGroups:
              - name: all
                members:
                - {component: frontend}
                - {component: worker}
            """);
        AssertProblem(problems, "spec.scalingGroups[0].members[0].component", "'frontend' is a frontend");
    }

    [Fact]
    public void NatsManagedAndUrl_AndPlannerModeAgainstTopology_AreRejected()
    {
        var problems = Validate("""
              nats: {managed: true, url: "nats://x:4222"}
              config:
                planner: {mode: disagg}
              components:
              - {name: frontend, type: frontend}
              - {name: worker, type: worker}
              - {name: planner, type: planner}
            """);
        AssertProblem(problems, "spec.nats", "managed: true and a url");
        AssertProblem(problems, "spec.config.planner.mode", "'disagg' but the graph is aggregated");
    }

    [Fact]
    public void MissingFrontendAndWorkers_AreNamed()
    {
        var problems = Validate("""
              components:
              - {name: planner, type: planner}
            """);
        AssertProblem(problems, "spec.components", "no frontend");
        AssertProblem(problems, "spec.components", "no worker pool");
    }
}
