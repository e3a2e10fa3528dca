using System.Text.Json.Nodes;
using Dynamo.Operator.Client;

namespace Dynamo.Operator.Tests.Infrastructure;

/// <summary>Reads and writes the tests need beyond the operator's own.</summary>
internal static class Objects
{
    /// <summary>
    /// Marks a Deployment's pods as all there and ready, as the Deployment controller and the kubelets would report
    /// (no node agent runs in these tests).
    /// </summary>
    public static async Task MarkReadyAsync(KubeApiClient api, string ns, string name, int? ready = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var deployment = await api.GetAsync(KubeResource.Deployments, ns, name) ?? throw new InvalidOperationException($"no Deployment {ns}/{name}");
            var replicas = deployment["spec"]?["replicas"]?.GetValue<int>() ?? 1;
            deployment["status"] = new JsonObject
            {
                ["observedGeneration"] = deployment["metadata"]!["generation"]!.GetValue<long>(),
                ["replicas"] = replicas,
                ["updatedReplicas"] = replicas,
                ["readyReplicas"] = ready ?? replicas,
                ["availableReplicas"] = ready ?? replicas,
            };
            try
            {
                await api.ReplaceAsync(KubeResource.Deployments, ns, name, deployment, "status");
                return;
            }
            catch (KubeApiException error) when (error.IsConflict && attempt < 10)
            {
                // The operator wrote it meanwhile.
            }
        }
    }

    public static async Task<int?> ReplicasAsync(KubeApiClient api, KubeResource resource, string ns, string name) =>
        (await api.GetAsync(resource, ns, name))?["spec"]?["replicas"]?.GetValue<int>();

    public static string? Condition(JsonObject? graph, string type, string field = "status") =>
        (graph?["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => c?["type"]?.GetValue<string>() == type)?[field]?.GetValue<string>();
}
