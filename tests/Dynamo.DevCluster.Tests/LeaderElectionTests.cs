using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>KubernetesClient's own Lease-based leader election, as the operator will run it, against the dev API server.</summary>
public sealed class LeaderElectionTests(ITestOutputHelper output)
{
    private static LeaderElector Elector(Kubernetes client, string identity) => new(new LeaderElectionConfig(new LeaseLock(client, "kube-system", "dynamo-operator", identity))
    {
        // Generous against busy machines: a renewal every 300 ms has 3 s to land before the leader gives up.
        LeaseDuration = TimeSpan.FromSeconds(4),
        RenewDeadline = TimeSpan.FromSeconds(3),
        RetryPeriod = TimeSpan.FromMilliseconds(300),
    });

    [Fact]
    public async Task TwoCandidates_OneLeads_AndTheOtherTakesOverWhenItStops()
    {
        await using var t = await TestApiServer.StartAsync(output);
        using var a = Elector(t.Client, "a");
        using var b = Elector(t.Client, "b");
        var aLeads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bLeads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var leaders = new List<string>();
        a.OnStartedLeading += () => { lock (leaders) leaders.Add("a"); aLeads.TrySetResult(); };
        b.OnStartedLeading += () => { lock (leaders) leaders.Add("b"); bLeads.TrySetResult(); };
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();

        var runA = a.RunUntilLeadershipLostAsync(stopA.Token);
        await aLeads.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var runB = b.RunUntilLeadershipLostAsync(stopB.Token);
        // b keeps trying while a renews: for several of b's retries nobody else leads.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        lock (leaders) Assert.Equal(["a"], leaders);

        await stopA.CancelAsync();
        await bLeads.Task.WaitAsync(TimeSpan.FromSeconds(15));
        var lease = await t.Client.CoordinationV1.ReadNamespacedLeaseAsync("dynamo-operator", "kube-system");
        await stopB.CancelAsync();
        await Task.WhenAll(runA, runB).ContinueWith(_ => { }, TaskScheduler.Default);

        lock (leaders) Assert.Equal(["a", "b"], leaders);
        Assert.Equal("b", lease.Spec.HolderIdentity);
        Assert.True(lease.Spec.LeaseTransitions >= 1);
    }
}
