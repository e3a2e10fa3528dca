using Dynamo.Runtime.Security;
using Dynamo.Cli.Configuration;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Engine;
using Dynamo.Engine.Transfer;
using Dynamo.Runtime.Metadata;
using Dynamo.Transfer;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// Gives a prefill or decode worker's engine its transfer agent (<c>Dynamo:Transfer</c>, pin and read timeouts from
/// <c>Dynamo:KvTransfer</c>) and keeps the agent's metadata published in the metadata store under
/// <c>transfer.{agent}</c>, where decode workers look a prefill worker's agent up by the name in
/// <c>kv_transfer_params</c>. Aggregated workers and engines without KV memory (the mocker) get no agent.
/// </summary>
internal sealed class KvTransferHosting : IAsyncDisposable
{
    private readonly TransferAgent _agent;
    private readonly IMetadataStore _store;
    private readonly ILogger _logger;

    private KvTransferHosting(TransferAgent agent, IMetadataStore store, ILogger logger)
    {
        _agent = agent;
        _store = store;
        _logger = logger;
    }

    public static string MetadataKey(string agentName) => "transfer." + agentName;

    /// <summary>
    /// Attaches an agent to <paramref name="engine"/> when <paramref name="role"/> takes part in disaggregation and the
    /// engine can move KV; returns null otherwise. <paramref name="defaultBackends"/> applies when the configuration
    /// names none (in-process for <c>serve</c>, TCP and UCX across processes). The agent's TCP connections and sealed UCX
    /// keys use a key derived from <paramref name="clusterSecret"/> unless <c>Dynamo:Transfer:AuthenticationKey</c> sets one.
    /// </summary>
    public static async Task<KvTransferHosting?> AttachAsync(
        IEngine engine, WorkerRole role, string instanceId, ClusterSettings settings, IMetadataStore store, string defaultBackends,
        ClusterSecret clusterSecret, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        if (role == WorkerRole.Aggregated || engine is not DotnetEngine dotnet)
        {
            return null;
        }

        // A fresh copy per agent: the backends default per verb unless configured.
        var configuration = settings.Configuration;
        var agentOptions = configuration?.Transfer() ?? new TransferAgentOptions();
        if (configuration?.Root[$"{TransferAgentOptions.SectionName}:Backends"] is null)
        {
            agentOptions.Backends = defaultBackends;
        }

        // The agent is named after its worker: kv_transfer_params carry the name, and it must be unique among peers.
        agentOptions.Name = instanceId;

        // Only members of the deployment may open a transfer connection or unseal this agent's UCX keys.
        agentOptions.AuthenticationKey ??= clusterSecret.DeriveKey("transfer");

        TransferAgent agent;
        try
        {
            agent = TransferAgent.Create(agentOptions, loggerFactory);
        }
        catch (ArgumentException ex)
        {
            throw new ConfigurationException(ex.Message);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigurationException($"{TransferAgentOptions.SectionName}:Backends = '{agentOptions.Backends}': {ex.Message}");
        }

        var hosting = new KvTransferHosting(agent, store, loggerFactory.CreateLogger<KvTransferHosting>());
        try
        {
            dotnet.AttachTransferAgent(agent, settings.KvTransfer, (name, ct) => store.GetAsync(MetadataKey(name), ct));
            await hosting.PublishAsync(cancellationToken);
            agent.MetadataChanged += hosting.OnMetadataChanged;
            return hosting;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>Removes the metadata and stops the agent. Call after the engine is disposed (the agent must outlive it).</summary>
    public async ValueTask DisposeAsync()
    {
        _agent.MetadataChanged -= OnMetadataChanged;
        try
        {
            await _store.DeleteAsync(MetadataKey(_agent.Name));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The store may be gone already (NATS down at shutdown); peers then fail to read and prefill locally.
            _logger.LogDebug(ex, "Could not remove transfer metadata of {Agent}", _agent.Name);
        }

        await _agent.DisposeAsync();
    }

    private Task PublishAsync(CancellationToken cancellationToken) =>
        _store.PutAsync(MetadataKey(_agent.Name), _agent.GetLocalMetadata().ToBytes(), cancellationToken).AsTask();

    private void OnMetadataChanged(TransferAgent agent) => _ = RepublishAsync();

    private async Task RepublishAsync()
    {
        try
        {
            await PublishAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogWarning(ex, "Could not republish transfer metadata of {Agent}", _agent.Name);
        }
    }
}
