namespace Dynamo.Runtime.Observability;

/// <summary>
/// Environment variables the project reads. Configuration keys themselves come in as <c>DYNAMO__SECTION__KEY</c>
/// through the configuration system; only the few below are read directly.
/// </summary>
public static class EnvironmentVariables
{
    /// <summary>Prefix of configuration keys: <c>DYNAMO__GATEWAY__PORT=8001</c> sets <c>Dynamo:Gateway:Port</c>.</summary>
    public const string ConfigurationPrefix = "DYNAMO__";

    /// <summary>Where generated models are cached (default <c>~/.cache/dynamo</c>).</summary>
    public const string CacheDir = "DYNAMO_CACHE_DIR";

    /// <summary>Standard OpenTelemetry endpoint; tracing export is off unless this or the config key is set.</summary>
    public const string OtlpEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT";
}
