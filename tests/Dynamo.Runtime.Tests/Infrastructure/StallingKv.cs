using System.Reflection;
using System.Runtime.CompilerServices;
using NATS.Client.KeyValueStore;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// A real key-value context whose stores' first <c>WatchAsync</c> never delivers anything (it waits until cancelled),
/// as a watch started while JetStream is still coming back can. Everything else goes to the real server.
/// </summary>
public class StallingKv : DispatchProxy
{
    private INatsKVContext _inner = null!;
    private StallCounter _counter = null!;

    public static INatsKVContext Wrap(INatsKVContext inner, StallCounter counter)
    {
        var proxy = Create<INatsKVContext, StallingKv>();
        var self = (StallingKv)(object)proxy;
        self._inner = inner;
        self._counter = counter;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var result = Forward(targetMethod!, _inner, args);
        return result is ValueTask<INatsKVStore> store ? WrapStoreAsync(store, _counter) : result;
    }

    private static async ValueTask<INatsKVStore> WrapStoreAsync(ValueTask<INatsKVStore> store, StallCounter counter) =>
        StallingStore.Wrap(await store, counter);

    internal static object? Forward(MethodInfo method, object target, object?[]? args)
    {
        try
        {
            return method.Invoke(target, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            throw ex.InnerException;
        }
    }
}

/// <summary>Counts the watches started through a <see cref="StallingKv"/>; the first <see cref="Stalls"/> hang.</summary>
public sealed class StallCounter(int stalls)
{
    private int _watches;

    public int Stalls { get; } = stalls;

    public int Watches => Volatile.Read(ref _watches);

    internal bool NextStalls() => Interlocked.Increment(ref _watches) <= Stalls;
}

public class StallingStore : DispatchProxy
{
    private static readonly MethodInfo HangMethod = typeof(StallingStore).GetMethod(nameof(Hang), BindingFlags.NonPublic | BindingFlags.Static)!;
    private INatsKVStore _inner = null!;
    private StallCounter _counter = null!;

    public static INatsKVStore Wrap(INatsKVStore inner, StallCounter counter)
    {
        var proxy = Create<INatsKVStore, StallingStore>();
        var self = (StallingStore)(object)proxy;
        self._inner = inner;
        self._counter = counter;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = targetMethod!;
        if (method.Name == nameof(INatsKVStore.WatchAsync) && method.IsGenericMethod && _counter.NextStalls())
        {
            var token = args!.OfType<CancellationToken>().Single();
            return HangMethod.MakeGenericMethod(method.GetGenericArguments()).Invoke(null, [token]);
        }

        return StallingKv.Forward(method, _inner, args);
    }

    private static async IAsyncEnumerable<NatsKVEntry<T>> Hang<T>([EnumeratorCancellation] CancellationToken token)
    {
        await Task.Delay(Timeout.Infinite, token);
        yield break;
    }
}
