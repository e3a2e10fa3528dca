using Dynamo.Runtime.Nats;
using Dynamo.Worker;

namespace Dynamo.Cli.Configuration;

/// <summary>
/// The sections only the single-part processes read: <c>Dynamo:Nats</c> (<c>dynamo frontend</c>, <c>dynamo worker</c>)
/// and <c>Dynamo:Worker</c> (<c>dynamo worker</c>), bound strictly and validated like the others.
/// </summary>
internal static class ProcessConfiguration
{
    /// <summary><c>Dynamo:Nats</c>, validated by <see cref="NatsOptionsValidator"/>.</summary>
    public static NatsOptions Nats(this DynamoConfiguration configuration)
    {
        var options = configuration.Bind<NatsOptions>(NatsOptions.SectionName);
        var result = new NatsOptionsValidator().Validate(null, options);
        return result.Failed ? throw new ConfigurationException(string.Join(Environment.NewLine, result.Failures)) : options;
    }

    /// <summary><c>Dynamo:Worker</c>, validated by <see cref="WorkerOptionsValidator"/>.</summary>
    public static WorkerOptions Worker(this DynamoConfiguration configuration)
    {
        var options = configuration.Bind<WorkerOptions>(WorkerOptions.SectionName);
        var result = new WorkerOptionsValidator().Validate(null, options);
        return result.Failed ? throw new ConfigurationException(string.Join(Environment.NewLine, result.Failures)) : options;
    }
}
