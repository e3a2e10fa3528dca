using System.Collections.Concurrent;

namespace Dynamo.Transfer.Backends.InProcess;

/// <summary>The in-process agents by incarnation: what an in-process endpoint resolves to.</summary>
internal static class InProcessFabric
{
    private static readonly ConcurrentDictionary<Guid, TransferAgent> s_agents = new();

    public static void Add(TransferAgent agent) => s_agents[agent.Incarnation] = agent;

    public static void Remove(TransferAgent agent) => s_agents.TryRemove(agent.Incarnation, out _);

    public static TransferAgent? Find(Guid incarnation) => s_agents.GetValueOrDefault(incarnation);
}
