namespace Dynamo.Cli.Configuration;

/// <summary>A bad configuration value; the message names the key and the value.</summary>
public sealed class ConfigurationException(string message) : Exception(message);
