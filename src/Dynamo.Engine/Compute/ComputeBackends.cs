using Microsoft.Extensions.Logging;

namespace Dynamo.Engine.Compute;

/// <summary>Chooses the compute backend for <see cref="ComputeBackendKind"/> and says in the log which one it chose.</summary>
public static class ComputeBackends
{
    public static IComputeBackend Create(ComputeBackendKind kind, int threads, ILogger logger)
    {
        threads = threads > 0 ? threads : Environment.ProcessorCount;
        switch (kind)
        {
            case ComputeBackendKind.Managed:
                EngineLog.ManagedBackendChosen(logger, threads);
                return new ManagedComputeBackend(threads);
            case ComputeBackendKind.OpenBlas:
                if (!OpenBlasComputeBackend.TryCreate(threads, out var required))
                {
                    throw new InvalidOperationException(
                        $"Dynamo:Engine:Backend is openblas but {OpenBlasComputeBackend.LibraryName} could not be loaded; install it (apt-get install -y libopenblas0-pthread) or use backend auto or managed");
                }

                EngineLog.OpenBlasLoaded(logger, threads, required!.Configuration);
                return required;
            default:
                if (OpenBlasComputeBackend.TryCreate(threads, out var found))
                {
                    EngineLog.OpenBlasLoaded(logger, threads, found!.Configuration);
                    return found;
                }

                EngineLog.OpenBlasMissing(logger, OpenBlasComputeBackend.LibraryName, threads);
                return new ManagedComputeBackend(threads);
        }
    }
}
